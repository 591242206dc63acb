/**
 * Scores calibrated against the part's look-alikes: some kinds of good part score high by what
 * they are, not by a defect (a crop that shows more edge and background, a finish the bank holds
 * few patches of), and set the false rejects a threshold must allow for. Each learned good image
 * keeps its leave-one-out image score (its level: how it scores as a part the model never saw);
 * an inspected part's K nearest learned images by appearance (the mean of the patch features, as
 * appearance.ts keeps them) say how high a part of its kind scores, and its score is lowered by
 * `strength` times how far their mean level lies above the mean of all levels:
 *   S' = S - strength * (mean level of the K look-alikes - mean level).
 * The learned images' own leave-one-out scores are adjusted the same way with themselves left
 * out, so the threshold calibrates on what inspections will give. K and the strength were chosen
 * on training images (BENCHMARKS.md, "Look-alike calibration").
 */
import { DefectError } from "../../errors";

/** Look-alikes averaged by default (0 turns the calibration off). */
export const DEFAULT_LOOKALIKES = 7;
/** The most look-alikes a model may average. */
export const MAX_LOOKALIKES = 50;
/**
 * Factor on the look-alikes' excess level: the mean of K neighbours' levels is a shrunk estimate
 * of the part's own, so the measured best lies a little above 1 (1.25 of 0.75, 1, 1.25, 1.5).
 */
export const LOOKALIKE_STRENGTH = 1.25;

export interface Lookalikes {
  /** Look-alikes averaged. */
  k: number;
  strength: number;
  /** Each fitted appearance vector's leave-one-out image score, in vector order. */
  levels: Float32Array;
  /** Mean of the levels. */
  mean: number;
}

/**
 * The model from the fitted vectors' levels; null when there are too few images to leave K out
 * of (K + 1 at least) or a level is not finite.
 */
export function fitLookalikes(levels: ArrayLike<number>, k: number, strength = LOOKALIKE_STRENGTH): Lookalikes | null {
  if (!(Number.isInteger(k) && k >= 1) || levels.length < k + 1) return null;
  const kept = Float32Array.from(levels);
  if (!kept.every(Number.isFinite)) return null;
  const mean = kept.reduce((s, v) => s + v, 0) / kept.length;
  return { k, strength, levels: kept, mean };
}

/** Indices of the `k` rows of `vectors` ([count, dim]) nearest `vector`, nearest first, leaving out row `skip`. */
export function nearestRows(vectors: Float32Array, count: number, dim: number, vector: ArrayLike<number>, k: number, skip = -1): Int32Array {
  if (vector.length !== dim) {
    throw new DefectError("inputShapeMismatch", `the part's mean features have ${vector.length} values, the look-alikes ${dim}`, {
      expected: dim,
      actual: vector.length,
    });
  }
  const best = new Float64Array(k).fill(Number.POSITIVE_INFINITY);
  const rows = new Int32Array(k).fill(-1);
  for (let i = 0; i < count; i++) {
    if (i === skip) continue;
    const row = i * dim;
    const worst = best[k - 1] as number;
    let s = 0;
    for (let c = 0; c < dim && s < worst; c++) {
      const d = (vector[c] as number) - (vectors[row + c] as number);
      s += d * d;
    }
    if (s >= worst) continue;
    let at = k - 1;
    while (at > 0 && (best[at - 1] as number) > s) {
      best[at] = best[at - 1] as number;
      rows[at] = rows[at - 1] as number;
      at--;
    }
    best[at] = s;
    rows[at] = i;
  }
  return rows.filter((r) => r >= 0);
}

/** The term of a part whose look-alikes are the model's rows `near`: below 0 for a kind that scores high. */
export function lookalikeTermOfRows(model: Lookalikes, near: ArrayLike<number>): number {
  if (near.length === 0) return 0;
  let sum = 0;
  for (let j = 0; j < near.length; j++) sum += model.levels[near[j] as number] as number;
  return -model.strength * (sum / near.length - model.mean);
}

/** What the look-alikes add to the score of the part whose mean features are `vector`, among the model's first vectors. */
export function lookalikeTerm(model: Lookalikes, vectors: Float32Array, dim: number, vector: ArrayLike<number>): number {
  return lookalikeTermOfRows(model, nearestRows(vectors, model.levels.length, dim, vector, model.k));
}
