/**
 * The patch features of the last M inspections, by part id, so that an operator's verdict
 * arriving later (a dashboard button pressed seconds after the part passed) can be learned
 * without the image. Bounded: the oldest part is forgotten when the M+1th arrives, so memory is
 * M times one image's features (M x patches x dim x 4 bytes).
 */
import { DefectError } from "../../errors";
import type { PartFeatures } from "../types";
import type { PartGeometry } from "./defect-region";

/** An inspection kept for a verdict: its features, and its tensor's geometry for a defect's region. */
export interface RememberedPart {
  part: PartFeatures;
  geometry: PartGeometry;
}

export const DEFAULT_RECENT_PARTS = 50;
export const MAX_RECENT_PARTS = 10_000;

export class RecentParts {
  private readonly parts = new Map<string, RememberedPart>();

  constructor(readonly capacity: number = DEFAULT_RECENT_PARTS) {}

  get size(): number {
    return this.parts.size;
  }

  /** Part ids held, oldest first. */
  get ids(): string[] {
    return [...this.parts.keys()];
  }

  remember(partId: string, part: RememberedPart): void {
    // Re-inspecting a part makes it the newest: the map keeps insertion order.
    this.parts.delete(partId);
    this.parts.set(partId, part);
    while (this.parts.size > this.capacity) {
      const oldest = this.parts.keys().next();
      if (oldest.done === true) break;
      this.parts.delete(oldest.value);
    }
  }

  /** The features of `partId`, removed so one inspection is learned once. */
  take(partId: string): RememberedPart {
    const part = this.peek(partId);
    this.parts.delete(partId);
    return part;
  }

  /** The features of `partId`, kept (a verdict checks its region against them before taking them). */
  peek(partId: string): RememberedPart {
    const part = this.parts.get(partId);
    if (part === undefined) {
      throw new DefectError(
        "unknownPart",
        `part ${partId} is not among the last ${this.capacity} inspections: confirm it sooner, raise "Remember parts", or send the image with the verdict`,
        { partId, capacity: this.capacity },
      );
    }
    return part;
  }

  clear(): void {
    this.parts.clear();
  }
}
