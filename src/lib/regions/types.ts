/** Data of the mask-to-region stage: what it reads from a message and what it reports. */
import type { BinaryMask, MessageScoreMap, Point, Rect, Transform } from "../image/types";

export type { BinaryMask } from "../image/types";

/**
 * One defect region as msg.regions carries it. The box (x, y = top-left) and the centroid are
 * continuous pixel coordinates (pixel i covers [i, i + 1)), like msg.transform.
 */
export interface Region extends Rect {
  /** Pixels of the region (holes excluded). */
  area: number;
  centroid: Point;
  /** Highest and mean anomaly score inside the region; null when the message has no map. */
  maxScore: number | null;
  meanScore: number | null;
}

/** Everything the stage reads from a message, validated. */
export interface RegionInput {
  mask?: BinaryMask;
  map?: MessageScoreMap;
  /** msg.payload.threshold: thresholds the map when there is no mask. */
  threshold?: number;
  transform?: Transform;
}

export interface Size {
  width: number;
  height: number;
}
