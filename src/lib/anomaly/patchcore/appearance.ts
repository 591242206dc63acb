/**
 * The whole part's appearance beside PatchCore's patches: each learned good image is kept as the
 * mean of its patch features (one vector of `dim` values), and an inspected part's appearance
 * distance is the distance of its own mean vector to the nearest of them. A memory bank of
 * patches asks whether every small piece of the part looks like some piece of some good part;
 * a part that is darker, rougher or unevenly lit as a whole passes that test patch by patch. The
 * appearance distance sees it.
 *
 * The two are put on one scale with the learned images' leave-one-out scores (each image against
 * the model without itself, as a good part the model never saw): standardised by their mean and
 * deviation, the image score is (1 - w) z_patch + w z_appearance. Written in the PatchCore score's
 * own units, which the threshold and the anomaly map keep, that is
 *   S = S_patch + w / (1 - w) * (sd_patch / sd_appearance) * (a - mean_appearance),
 * the same ranking of parts. The weight w is chosen on training images (BENCHMARKS.md, "Image score
 * rules, and scores combined").
 */
import { DefectError } from "../../errors";
import type { PatchEmbedding } from "../../features/types";
import type { SessionOptions } from "../../onnx";
import type { Lookalikes } from "./lookalikes";
import { openNearestSearch } from "./nearest";

/** Weight w of the appearance term: the measured best of 0, 0.25, 0.5, 0.75 on training images. */
export const DEFAULT_APPEARANCE_WEIGHT = 0.25;
/** Weights at or above 1 would leave the patches no say (and divide by 0). */
export const MAX_APPEARANCE_WEIGHT = 0.9;
/** Leave-one-out needs a few images to tell a deviation: fewer learned images, no appearance term. */
export const MIN_APPEARANCE_IMAGES = 5;
/**
 * Vectors kept at most (the fit's images, then good parts confirmed on the line, the oldest
 * confirmed going first). An inspection measures its part against every one on Node-RED's thread:
 * 500 x 1,536 values take about 2 ms there, the default fit's 200 under 1 ms.
 */
export const MAX_APPEARANCE_VECTORS = 500;
/** A fit of more images keeps this many of them, evenly spread, leaving room for confirmed parts. */
export const MAX_FITTED_APPEARANCE = 400;

/** The learned images whose vectors a fit of `images` keeps: all, or MAX_FITTED_APPEARANCE evenly spread. */
export function keptImages(images: number): Int32Array {
  if (images <= MAX_FITTED_APPEARANCE) return Int32Array.from({ length: images }, (_, i) => i);
  return Int32Array.from({ length: MAX_FITTED_APPEARANCE }, (_, i) => Math.floor((i * images) / MAX_FITTED_APPEARANCE));
}

/** What a fit learns of the good parts' appearance; the weight is applied when scoring. */
export interface Appearance {
  /** [count, dim] row-major: the fit's images first, then confirmed good parts. */
  vectors: Float32Array;
  count: number;
  dim: number;
  /** Images the fit learned (the first `fitted` vectors; they are never dropped). */
  fitted: number;
  /** Mean and deviation of the learned images' leave-one-out appearance distances. */
  mean: number;
  deviation: number;
  /** Deviation of the learned images' leave-one-out PatchCore scores (the image score's scale). */
  patchDeviation: number;
  /** The fitted vectors' levels, where the fit calibrated scores by look-alikes (lookalikes.ts). */
  lookalikes?: Lookalikes;
}

/** The mean of an image's patch features. */
export function meanFeatures(embedding: Pick<PatchEmbedding, "data" | "patches" | "dim">): Float32Array {
  const { data, patches, dim } = embedding;
  const sum = new Float64Array(dim);
  for (let p = 0; p < patches; p++) {
    const row = p * dim;
    for (let c = 0; c < dim; c++) sum[c] = (sum[c] as number) + (data[row + c] as number);
  }
  return Float32Array.from(sum, (s) => s / patches);
}

function checkDimension(vector: ArrayLike<number>, dim: number): void {
  if (vector.length !== dim) {
    throw new DefectError("inputShapeMismatch", `the part's mean features have ${vector.length} values, the appearance model ${dim}`, {
      expected: dim,
      actual: vector.length,
    });
  }
}

/** Distance of `vector` to the nearest row of `vectors` ([count, dim]), leaving out row `skip`. */
export function nearestDistance(vectors: Float32Array, count: number, dim: number, vector: ArrayLike<number>, skip = -1): number {
  checkDimension(vector, dim);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    if (i === skip) continue;
    const row = i * dim;
    let s = 0;
    for (let c = 0; c < dim && s < best; c++) {
      const d = (vector[c] as number) - (vectors[row + c] as number);
      s += d * d;
    }
    if (s < best) best = s;
  }
  return Math.sqrt(best);
}

function meanDeviation(values: readonly number[]): [number, number] {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return [mean, Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length)];
}

/** Each learned image's nearest other kept images: their distances and rows. */
export interface LeaveOneOutNeighbours {
  /** Distance to the nearest other kept image, in image order. */
  distances: number[];
  /** The `k` nearest other kept images' rows (indices into `kept`), nearest first, in image order. */
  rows: Int32Array[];
}

/**
 * Each of `count` vectors' `k` nearest others among the `kept` ones (keptImages), searched on a
 * session worker: 200 learned images are 60 million multiply-adds, 100 ms that Node-RED's thread
 * must not spend.
 */
export async function leaveOneOutNeighbours(
  vectors: Float32Array,
  count: number,
  dim: number,
  k: number,
  session?: SessionOptions,
  kept: Int32Array = keptImages(count),
): Promise<LeaveOneOutNeighbours> {
  const want = Math.min(k, kept.length - 1);
  if (count < 2 || want < 1) return { distances: [], rows: [] };
  // Centred: the search's float32 |q|^2 - 2 q.b + |b|^2 then loses to rounding only the parts'
  // spread, not their common mean's size (distances do not change).
  // Plain row loops: a per-value callback here took 40 ms of Node-RED's thread at 200 x 1,536.
  const centre = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    const row = r * dim;
    for (let c = 0; c < dim; c++) centre[c] = (centre[c] as number) + (vectors[row + c] as number);
  }
  for (let c = 0; c < dim; c++) centre[c] = (centre[c] as number) / count;
  const centred = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const row = r * dim;
    for (let c = 0; c < dim; c++) centred[row + c] = (vectors[row + c] as number) - (centre[c] as number);
  }
  const bank = new Float32Array(kept.length * dim);
  kept.forEach((image, i) => bank.set(centred.subarray(image * dim, (image + 1) * dim), i * dim));
  const search = await openNearestSearch(bank, kept.length, dim, session);
  try {
    const found = await search.search(centred, count, want + 1);
    const distances: number[] = [];
    const rows: Int32Array[] = [];
    for (let i = 0; i < count; i++) {
      // A kept image is one of its own nearest (or a duplicate at distance 0): the others are its neighbours.
      const others: number[] = [];
      for (let j = i * found.k; j < (i + 1) * found.k && others.length < want; j++) if (kept[found.indices[j] as number] !== i) others.push(j);
      distances.push(found.distances[others[0] as number] as number);
      rows.push(Int32Array.from(others, (j) => found.indices[j] as number));
    }
    return { distances, rows };
  } finally {
    await search.release();
  }
}

/**
 * The appearance model of a fit from its `count` images' mean vectors ([count, dim]), their
 * leave-one-out distances (leaveOneOutNeighbours over the same `kept`) and leave-one-out PatchCore
 * scores, in image order; it keeps the `kept` images' vectors. Null when there are too few images
 * or no deviation to scale by.
 */
export function fitAppearance(
  vectors: Float32Array,
  count: number,
  dim: number,
  distances: readonly number[],
  patchLeaveOneOut: readonly number[],
  kept: Int32Array = keptImages(count),
): Appearance | null {
  if (count < MIN_APPEARANCE_IMAGES || patchLeaveOneOut.length !== count || distances.length !== count) return null;
  const [mean, deviation] = meanDeviation(distances);
  const patchDeviation = meanDeviation(patchLeaveOneOut)[1];
  if (!(deviation > 0) || !(patchDeviation > 0) || !Number.isFinite(mean)) return null;
  const rows = new Float32Array(kept.length * dim);
  kept.forEach((image, i) => rows.set(vectors.subarray(image * dim, (image + 1) * dim), i * dim));
  return { vectors: rows, count: kept.length, dim, fitted: kept.length, mean, deviation, patchDeviation };
}

/** Factor of the appearance distance in the image score at weight `weight` (0: no term). */
export function appearanceScale(appearance: Appearance, weight: number): number {
  if (!(weight > 0)) return 0;
  return (weight / (1 - weight)) * (appearance.patchDeviation / appearance.deviation);
}

/** What the appearance adds to a part's PatchCore score: can be below 0 for a typical-looking part. */
export function appearanceTerm(appearance: Appearance, weight: number, vector: ArrayLike<number>): number {
  const scale = appearanceScale(appearance, weight);
  if (scale === 0) return 0;
  return scale * (nearestDistance(appearance.vectors, appearance.count, appearance.dim, vector) - appearance.mean);
}

/**
 * The learned images' leave-one-out image scores with the appearance term: what the threshold
 * calibrates on, each image scored as a part neither its patches nor its appearance were learned from.
 */
export function leaveOneOutWithAppearance(appearance: Appearance, weight: number, patchLeaveOneOut: readonly number[], distances: readonly number[]): number[] {
  const scale = appearanceScale(appearance, weight);
  return patchLeaveOneOut.map((score, i) => (scale === 0 ? score : score + scale * ((distances[i] as number) - appearance.mean)));
}

/** The model with a confirmed good part's vector added; beyond MAX_APPEARANCE_VECTORS the oldest confirmed goes. */
export function withConfirmedGood(appearance: Appearance, vector: Float32Array): Appearance {
  const { dim, fitted } = appearance;
  checkDimension(vector, dim);
  let rows = appearance.vectors.subarray(0, appearance.count * dim);
  let count = appearance.count;
  if (count >= Math.max(MAX_APPEARANCE_VECTORS, fitted + 1)) {
    // Drop the oldest confirmed vector (the first after the fitted ones).
    const kept = new Float32Array((count - 1) * dim);
    kept.set(rows.subarray(0, fitted * dim));
    kept.set(rows.subarray((fitted + 1) * dim), fitted * dim);
    rows = kept;
    count -= 1;
  }
  const vectors = new Float32Array((count + 1) * dim);
  vectors.set(rows);
  vectors.set(vector, count * dim);
  return { ...appearance, vectors, count: count + 1 };
}
