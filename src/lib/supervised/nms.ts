/** Greedy non-maximum suppression over decoded candidates (torchvision `nms` semantics). */
import type { Candidate } from "./types";

/**
 * Most candidates NMS looks at, best first, as Ultralytics' `max_nms`: keeps the quadratic worst case
 * bounded when a low confidence lets most anchors through.
 */
export const MAX_NMS_CANDIDATES = 30000;

/** Index bits in a sort key: float32 bits (31 for a non-negative value) x 2^21 stays below 2^53. */
const KEY_INDEX_BITS = 21;
const KEY_INDEX_RANGE = 2 ** KEY_INDEX_BITS;
const FLOAT32_POSITIVE_MAX_BITS = 0x7fffffff;

/**
 * Candidates best score first, ties in input order. Non-negative float32 scores order like their bit
 * patterns, so (descending bits, index) packs into one exact float64 key and a comparator-free typed
 * sort (several times faster than Array#sort with a callback on 8400 candidates) does the work.
 */
function byScore(candidates: readonly Candidate[]): Candidate[] {
  const n = candidates.length;
  const scores = Float32Array.from(candidates, (c) => c.score);
  const bits = new Uint32Array(scores.buffer);
  if (n >= KEY_INDEX_RANGE || scores.some((s) => !(s >= 0))) {
    return candidates.slice().sort((a, b) => b.score - a.score);
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = (FLOAT32_POSITIVE_MAX_BITS - bits[i]!) * KEY_INDEX_RANGE + i;
  keys.sort();
  const out = new Array<Candidate>(n);
  for (let r = 0; r < n; r++) out[r] = candidates[keys[r]! % KEY_INDEX_RANGE]!;
  return out;
}

/** Candidate coordinates in flat arrays (by score rank), so the inner loop reads numbers, not objects. */
interface Boxes {
  x1: Float64Array;
  y1: Float64Array;
  x2: Float64Array;
  y2: Float64Array;
  area: Float64Array;
}

function toBoxes(order: readonly Candidate[]): Boxes {
  const n = order.length;
  const boxes: Boxes = { x1: new Float64Array(n), y1: new Float64Array(n), x2: new Float64Array(n), y2: new Float64Array(n), area: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const c = order[i]!;
    boxes.x1[i] = c.x1;
    boxes.y1[i] = c.y1;
    boxes.x2[i] = c.x2;
    boxes.y2[i] = c.y2;
    boxes.area[i] = Math.max(0, c.x2 - c.x1) * Math.max(0, c.y2 - c.y1);
  }
  return boxes;
}

/** Ranks (positions in score order) of each group's members, ascending. */
function groupRanks(order: readonly Candidate[], classAware: boolean): Int32Array[] {
  if (!classAware) return [Int32Array.from(order.keys())];
  const groups = new Map<number, number[]>();
  order.forEach((c, rank) => {
    const members = groups.get(c.class);
    if (members === undefined) groups.set(c.class, [rank]);
    else members.push(rank);
  });
  return [...groups.values()].map((ranks) => Int32Array.from(ranks));
}

/** Greedy NMS inside one group: marks at most `limit` kept ranks in `kept`, the rest it overlaps in `suppressed`. */
function suppressGroup(ranks: Int32Array, boxes: Boxes, iou: number, limit: number, suppressed: Uint8Array, kept: Uint8Array): void {
  const { x1, y1, x2, y2, area } = boxes;
  let count = 0;
  for (let a = 0; a < ranks.length && count < limit; a++) {
    const i = ranks[a]!;
    if (suppressed[i]) continue;
    kept[i] = 1;
    count += 1;
    const ax1 = x1[i]!;
    const ay1 = y1[i]!;
    const ax2 = x2[i]!;
    const ay2 = y2[i]!;
    const aArea = area[i]!;
    for (let b = a + 1; b < ranks.length; b++) {
      const j = ranks[b]!;
      if (suppressed[j]) continue;
      const w = Math.min(ax2, x2[j]!) - Math.max(ax1, x1[j]!);
      if (w <= 0) continue;
      const h = Math.min(ay2, y2[j]!) - Math.max(ay1, y1[j]!);
      if (h <= 0) continue;
      const inter = w * h;
      if (inter / (aArea + area[j]! - inter) > iou) suppressed[j] = 1;
    }
  }
}

/**
 * Keeps candidates best score first; a candidate is dropped when its IoU with an already kept one is
 * strictly greater than `iou` (and, when `classAware`, that one has the same class: boxes of different
 * classes never suppress each other, so each class is suppressed on its own). At most `maxDetections`
 * are kept, which also bounds the pairwise work per class to maxDetections x its candidates.
 * Equal scores keep their input order.
 */
export function nonMaxSuppression(candidates: readonly Candidate[], iou: number, maxDetections: number, classAware = true): Candidate[] {
  const order = byScore(candidates);
  if (order.length > MAX_NMS_CANDIDATES) order.length = MAX_NMS_CANDIDATES;
  const boxes = toBoxes(order);
  const suppressed = new Uint8Array(order.length);
  const kept = new Uint8Array(order.length);
  for (const ranks of groupRanks(order, classAware)) suppressGroup(ranks, boxes, iou, maxDetections, suppressed, kept);
  // A class may keep up to maxDetections on its own; the best ranks over all classes win.
  const out: Candidate[] = [];
  for (let rank = 0; rank < order.length && out.length < maxDetections; rank++) if (kept[rank]) out.push(order[rank]!);
  return out;
}
