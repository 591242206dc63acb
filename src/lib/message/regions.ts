/**
 * msg.regions (mask-to-region's defect regions in original image pixels) and the count it adds to
 * msg.payload. The alarm reads them, as does the offline line; regions from a function node or a
 * JSON round trip may be partial, so anything without a finite box is left out, not refused.
 */
import type { Region } from "../regions/types";
import { finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";

/** A region as read back (from mask-to-region or a hand-made list): the box, and the area and highest score when given. */
export interface RegionBox {
  x: number;
  y: number;
  width: number;
  height: number;
  area?: number;
  maxScore?: number;
}

/** A region of a part seen in several views (join views), named by the view whose image it lies in. */
export type ViewRegion = RegionBox & { view: string };

/** Writes msg.regions, and msg.payload.regionCount when the payload is an object (a verdict); other payloads stay as they are. */
export function writeRegions(msg: MessageFields, regions: readonly Region[]): void {
  msg["regions"] = regions;
  if (isRecord(msg.payload)) msg.payload["regionCount"] = regions.length;
}

/** The regions on a message with a finite box; an absent or malformed list reads as none. */
export function readRegions(msg: MessageView): RegionBox[] {
  const value = msg.regions;
  if (!Array.isArray(value)) return [];
  const regions: RegionBox[] = [];
  for (const item of value as unknown[]) {
    if (!isRecord(item)) continue;
    const [x, y, width, height] = [finiteNumber(item["x"]), finiteNumber(item["y"]), finiteNumber(item["width"]), finiteNumber(item["height"])];
    if (x === undefined || y === undefined || width === undefined || height === undefined) continue;
    const region: RegionBox = { x, y, width, height };
    const area = finiteNumber(item["area"]);
    const maxScore = finiteNumber(item["maxScore"]);
    if (area !== undefined) region.area = area;
    if (maxScore !== undefined) region.maxScore = maxScore;
    regions.push(region);
  }
  return regions;
}

/** msg.payload.regionCount when it is a count (a whole number, at least 0). */
export function regionCountOf(payload: unknown): number | undefined {
  const count = isRecord(payload) ? finiteNumber(payload["regionCount"]) : undefined;
  return count !== undefined && Number.isInteger(count) && count >= 0 ? count : undefined;
}

/** The regions as readRegions reads them, or null when the message has no msg.regions list (no mask to region ran). */
export function readRegionsIfAny(msg: MessageView): RegionBox[] | null {
  return Array.isArray(msg.regions) ? readRegions(msg) : null;
}

/** Writes the regions of every view of a part as msg.regions (each naming its view), and their count as msg.payload.regionCount. */
export function writeViewRegions(msg: MessageFields, regions: readonly ViewRegion[]): void {
  msg["regions"] = regions;
  if (isRecord(msg.payload)) msg.payload["regionCount"] = regions.length;
}
