/**
 * Parts seen but not archived (an OK part outside the sample), remembered so that an operator's
 * later confirmation by part id can still file the image. Bounded: the oldest goes first.
 */
import type { Transform } from "../image/types";

export interface RecentPart {
  partId: string;
  image: Buffer;
  extension: string;
  /** The sidecar as it would have been written. */
  record: Record<string, unknown>;
  overlay: Buffer | undefined;
  transform: Transform | undefined;
  resultId: number | null;
}

export class RecentParts {
  private readonly parts = new Map<string, RecentPart>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.parts.size;
  }

  remember(part: RecentPart): void {
    if (this.limit === 0) return;
    this.parts.delete(part.partId);
    this.parts.set(part.partId, part);
    while (this.parts.size > this.limit) {
      const oldest = this.parts.keys().next().value;
      if (oldest === undefined) break;
      this.parts.delete(oldest);
    }
  }

  /** The part, forgotten: a part is filed once. */
  take(partId: string): RecentPart | undefined {
    const part = this.parts.get(partId);
    this.parts.delete(partId);
    return part;
  }

  clear(): void {
    this.parts.clear();
  }
}
