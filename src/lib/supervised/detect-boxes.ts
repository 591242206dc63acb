/** Detection heads to boxes: decode, NMS, then back to original image pixels. */
import { boxToSource } from "../image/transform";
import type { Transform } from "../image/types";
import type { DetectionHead } from "./format";
import { nonMaxSuppression } from "./nms";
import type { RawOutput } from "./semantic";
import type { Box, Candidate } from "./types";
import { decodeEndToEnd, decodeYoloV5, decodeYoloV8 } from "./yolo-decode";

export interface BoxOptions {
  confidence: number;
  iou: number;
  maxDetections: number;
}

/** Candidates after NMS, best first, in tensor pixels. End-to-end heads were suppressed in the graph. */
export function detectCandidates(output: RawOutput, head: DetectionHead, options: BoxOptions): Candidate[] {
  const { data, dims } = output;
  if (head.layout === "end2end") {
    const rows = decodeEndToEnd(data, dims, options.confidence).sort((a, b) => b.score - a.score);
    return rows.slice(0, options.maxDetections);
  }
  const nc = head.nc ?? 0;
  const candidates =
    head.layout === "v8" ? decodeYoloV8(data, dims, nc, head.extra, options.confidence) : decodeYoloV5(data, dims, nc, head.extra, options.confidence);
  return nonMaxSuppression(candidates, options.iou, options.maxDetections, true);
}

/**
 * A candidate in original pixels (through the transform, clipped to its ROI) or, without a transform,
 * clipped to the tensor. null when nothing of it is left (a box wholly in the letterbox padding).
 */
export function placeBox(c: Candidate, nameOf: (index: number) => string, tensorSize: { width: number; height: number }, transform?: Transform): Box | null {
  let x1: number;
  let y1: number;
  let x2: number;
  let y2: number;
  if (transform === undefined) {
    x1 = Math.min(Math.max(c.x1, 0), tensorSize.width);
    y1 = Math.min(Math.max(c.y1, 0), tensorSize.height);
    x2 = Math.min(Math.max(c.x2, 0), tensorSize.width);
    y2 = Math.min(Math.max(c.y2, 0), tensorSize.height);
  } else {
    const r = boxToSource(transform, { x: c.x1, y: c.y1, width: c.x2 - c.x1, height: c.y2 - c.y1 });
    x1 = r.x;
    y1 = r.y;
    x2 = r.x + r.width;
    y2 = r.y + r.height;
  }
  if (!(x2 > x1 && y2 > y1)) return null;
  return { x1, y1, x2, y2, score: c.score, class: c.class, name: nameOf(c.class) };
}
