/**
 * A few-shot bank that remembers which shot each row came from, so the calibration can score
 * every shot leave-one-out (against the bank without that shot's rows and its variants' rows)
 * without selecting a new coreset per shot.
 */
import type { SessionOptions } from "../onnx";
import { greedyCoresetInRounds } from "../anomaly/patchcore/coreset-rounds";
import { bankSizeFor, PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "../anomaly/patchcore/patchcore";
import { projectRows } from "../anomaly/patchcore/projection";
import { fewShotCoresetRatio } from "../anomaly/patchcore/trainer";
import { sigmaThreshold } from "../threshold";
import { Rng } from "../synth/random";
import type { ShotFeatures } from "./fewshot-features";

export interface TracedBank {
  bank: MemoryBank;
  /** Shot index of each bank row. */
  owner: Int32Array;
}

/** The same selection as buildMemoryBank (projection, greedy k-center from a seeded start), keeping row owners. */
export async function buildTracedBank(
  shots: ShotFeatures[],
  useVariants: boolean,
  dim: number,
  options: PatchCoreOptions,
  minBankSize: number,
  session?: SessionOptions,
): Promise<TracedBank> {
  const parts: Array<{ data: Float32Array; shot: number }> = [];
  shots.forEach((s, shot) => {
    parts.push({ data: s.original, shot });
    if (useVariants) for (const v of s.variants) parts.push({ data: v, shot });
  });
  const count = parts.reduce((n, p) => n + p.data.length / dim, 0);
  const features = new Float32Array(count * dim);
  const rowOwner = new Int32Array(count);
  let row = 0;
  for (const p of parts) {
    features.set(p.data, row * dim);
    rowOwner.fill(p.shot, row, row + p.data.length / dim);
    row += p.data.length / dim;
  }
  const ratio = fewShotCoresetRatio(count, options, minBankSize);
  const size = bankSizeFor(count, { ...options, coresetRatio: ratio });
  let indices: Int32Array;
  if (size >= count) {
    indices = Int32Array.from({ length: count }, (_, i) => i);
  } else {
    const space = dim > options.projectionDim ? await projectRows(features, count, dim, options.projectionDim, options.seed, session) : features;
    const start = Math.floor(new Rng(options.seed + 1).next() * count);
    indices = (await greedyCoresetInRounds(space, count, Math.min(dim, options.projectionDim), size, start, session)).indices;
  }
  const data = new Float32Array(size * dim);
  const owner = new Int32Array(size);
  indices.forEach((r, i) => {
    data.set(features.subarray(r * dim, r * dim + dim), i * dim);
    owner[i] = rowOwner[r] as number;
  });
  return { bank: { data, size, dim, projection: null }, owner };
}

/** k of the k-sigma rule on the leave-one-out scores (issue 6 contract). */
export const CALIBRATION_SIGMAS = 3;

/**
 * Image scores of each shot against the bank without its own rows, then mean + 3 sd of them.
 * Null with fewer than two shots (nothing to leave one out against, no spread to measure).
 * `mapSize` is the model's input size: the map the "map-max" image score is taken from.
 */
export async function leaveOneOutThreshold(
  traced: TracedBank,
  shots: ShotFeatures[],
  grid: { patches: number; width: number; height: number },
  mapSize: { width: number; height: number },
  options: PatchCoreOptions,
  session?: SessionOptions,
): Promise<{ threshold: number | null; scores: number[] }> {
  if (shots.length < 2) return { threshold: null, scores: [] };
  const { bank, owner } = traced;
  const scores: number[] = [];
  for (const [shot, s] of shots.entries()) {
    const keep: number[] = [];
    for (let r = 0; r < bank.size; r++) if (owner[r] !== shot) keep.push(r);
    if (keep.length === 0) continue;
    const data = new Float32Array(keep.length * bank.dim);
    keep.forEach((r, i) => data.set(bank.data.subarray(r * bank.dim, r * bank.dim + bank.dim), i * bank.dim));
    const scorer = await PatchCoreScorer.open({ data, size: keep.length, dim: bank.dim, projection: null }, options, session);
    try {
      const embedding = { data: s.original, patches: grid.patches, dim: bank.dim, gridWidth: grid.width, gridHeight: grid.height };
      const result = await scorer.scoreImage(embedding, mapSize.width, mapSize.height);
      scores.push(result.score);
    } finally {
      await scorer.release();
    }
  }
  return { threshold: sigmaThreshold(scores, CALIBRATION_SIGMAS), scores };
}
