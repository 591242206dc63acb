/**
 * Decoders for the raw detection heads of Ultralytics exports, to candidates in tensor pixels.
 * All of them keep a candidate only when its score is strictly greater than `confidence`
 * (Ultralytics' `non_max_suppression` filters with `> conf_thres`).
 */
import { DefectError } from "../errors";
import type { Candidate } from "./types";

/** Rows before the class scores in a v8/11 head: cx, cy, w, h. */
export const V8_BOX_ROWS = 4;
/** Values before the class scores in a v5 row: cx, cy, w, h, objectness. */
export const V5_BOX_VALUES = 5;
/** Values in an end-to-end row before any extra: x1, y1, x2, y2, score, class. */
export const END_TO_END_VALUES = 6;

function expectRank3(dims: readonly number[], dataLength: number, what: string): [number, number] {
  const [batch, a, b] = dims;
  if (dims.length !== 3 || batch === undefined || a === undefined || b === undefined) {
    throw new DefectError("inferenceFailed", `${what} output must have 3 dimensions, got [${dims.join(",")}]`, {
      dims: dims.join(","),
    });
  }
  if (batch * a * b !== dataLength) {
    throw new DefectError("inferenceFailed", `${what} output holds ${dataLength} values, but its shape [${dims.join(",")}] needs ${batch * a * b}`, {
      dims: dims.join(","),
      length: dataLength,
    });
  }
  return [a, b];
}

function checkWidth(actual: number, expected: number, what: string, dims: readonly number[]): void {
  if (actual !== expected) {
    throw new DefectError("inferenceFailed", `${what} output [${dims.join(",")}] has ${actual} values per box, expected ${expected}`, {
      dims: dims.join(","),
      expected,
      actual,
    });
  }
}

/**
 * YOLOv8/11 head `[1, 4+nc+extra, N]` (channel-first): rows 0..3 = cx, cy, w, h, then nc class scores
 * (already sigmoid in Ultralytics exports), then `extra` values per anchor (32 mask coefficients for -seg).
 * Reads row by row (contiguous memory) to find each anchor's best class, instead of transposing.
 */
export function decodeYoloV8(data: Float32Array, dims: readonly number[], nc: number, extra: number, confidence: number): Candidate[] {
  const [rows, n] = expectRank3(dims, data.length, "YOLOv8");
  checkWidth(rows, V8_BOX_ROWS + nc + extra, "YOLOv8", dims);
  const best = new Float32Array(n).fill(-Infinity);
  const bestClass = new Int32Array(n);
  for (let c = 0; c < nc; c++) {
    const row = (V8_BOX_ROWS + c) * n;
    for (let i = 0; i < n; i++) {
      const s = data[row + i]!;
      if (s > best[i]!) {
        best[i] = s;
        bestClass[i] = c;
      }
    }
  }
  const out: Candidate[] = [];
  const extraRow = (V8_BOX_ROWS + nc) * n;
  for (let i = 0; i < n; i++) {
    const score = best[i]!;
    if (!(score > confidence)) continue;
    const cx = data[i]!;
    const cy = data[n + i]!;
    const hw = data[2 * n + i]! / 2;
    const hh = data[3 * n + i]! / 2;
    let values: Float32Array | null = null;
    if (extra > 0) {
      values = new Float32Array(extra);
      for (let k = 0; k < extra; k++) values[k] = data[extraRow + k * n + i]!;
    }
    out.push({ x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh, score, class: bestClass[i]!, extra: values });
  }
  return out;
}

/**
 * YOLOv5 head `[1, N, 5+nc+extra]`: cx, cy, w, h, objectness, nc class scores, extra values (all sigmoided).
 * Score = objectness x best class score, as YOLOv5's `non_max_suppression` (which also drops rows whose
 * objectness alone is not above the threshold: the product can then never be above it either).
 */
export function decodeYoloV5(data: Float32Array, dims: readonly number[], nc: number, extra: number, confidence: number): Candidate[] {
  const [n, width] = expectRank3(dims, data.length, "YOLOv5");
  checkWidth(width, V5_BOX_VALUES + nc + extra, "YOLOv5", dims);
  const out: Candidate[] = [];
  for (let i = 0, base = 0; i < n; i++, base += width) {
    const objectness = data[base + 4]!;
    if (!(objectness > confidence)) continue;
    let bestScore = -Infinity;
    let bestIndex = 0;
    for (let c = 0; c < nc; c++) {
      const s = data[base + V5_BOX_VALUES + c]!;
      if (s > bestScore) {
        bestScore = s;
        bestIndex = c;
      }
    }
    const score = objectness * bestScore;
    if (!(score > confidence)) continue;
    const cx = data[base]!;
    const cy = data[base + 1]!;
    const hw = data[base + 2]! / 2;
    const hh = data[base + 3]! / 2;
    const start = base + V5_BOX_VALUES + nc;
    const values = extra > 0 ? data.slice(start, start + extra) : null;
    out.push({ x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh, score, class: bestIndex, extra: values });
  }
  return out;
}

/**
 * End-to-end / `nms=True` head `[1, N, 6+extra]`: x1, y1, x2, y2, score, class (then extra values, e.g. 32
 * mask coefficients for seg). NMS is already done inside the graph; padding rows have score 0.
 */
export function decodeEndToEnd(data: Float32Array, dims: readonly number[], confidence: number): Candidate[] {
  const [n, width] = expectRank3(dims, data.length, "End-to-end detection");
  if (width < END_TO_END_VALUES) checkWidth(width, END_TO_END_VALUES, "End-to-end detection", dims);
  const extra = width - END_TO_END_VALUES;
  const out: Candidate[] = [];
  for (let i = 0, base = 0; i < n; i++, base += width) {
    const score = data[base + 4]!;
    if (!(score > confidence)) continue;
    const start = base + END_TO_END_VALUES;
    out.push({
      x1: data[base]!,
      y1: data[base + 1]!,
      x2: data[base + 2]!,
      y2: data[base + 3]!,
      score,
      class: Math.round(data[base + 5]!),
      extra: extra > 0 ? data.slice(start, start + extra) : null,
    });
  }
  return out;
}
