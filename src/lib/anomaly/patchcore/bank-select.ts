/**
 * The steps of building a PatchCore memory bank, for callers that hold the training rows in
 * different ways: the coreset space (a seeded random projection of the features), the seeded
 * first center, the greedy k-center selection of the bank's rows, and the search subspace of
 * the selected rows. buildMemoryBank runs them on one contiguous array; the detector's learning
 * rounds project each image as it arrives and fetch only the selected rows' features (bank-fit.ts).
 */
import type { SessionOptions } from "../../onnx";
import { principalSubspace } from "../../linalg/subspace";
import { Rng } from "../../random";
import { greedyCoresetInRounds } from "./coreset-rounds";
import type { PatchCoreOptions } from "./patchcore";
import { openRowProjector, type RowProjector } from "./projection";
import type { RowBlocks } from "./row-blocks";

export function bankSizeFor(patches: number, options: Pick<PatchCoreOptions, "coresetRatio" | "maxBankSize">): number {
  return Math.max(1, Math.min(options.maxBankSize, patches, Math.floor(patches * options.coresetRatio)));
}

/** Dimensions of the space coreset distances are measured in. */
export function coresetSpaceDim(dim: number, options: Pick<PatchCoreOptions, "projectionDim">): number {
  return Math.min(dim, options.projectionDim);
}

/** The projection into the coreset space; null when the features are that space already. */
export async function openCoresetProjector(dim: number, options: PatchCoreOptions, session?: SessionOptions): Promise<RowProjector | null> {
  return dim > options.projectionDim ? openRowProjector(dim, options.projectionDim, options.seed, session) : null;
}

/** The bank's rows among `space.count` training rows, in selection order (all of them when the bank keeps every row). */
export async function selectBankRows(space: RowBlocks, options: PatchCoreOptions, session?: SessionOptions): Promise<Int32Array> {
  const { count } = space;
  const size = bankSizeFor(count, options);
  if (size >= count) return Int32Array.from({ length: count }, (_, i) => i);
  // Seeded, so the same rows give the same bank.
  const start = Math.floor(new Rng(options.seed + 1).next() * count);
  return (await greedyCoresetInRounds(space, size, start, session)).indices;
}

/** The [dim, scoringDim] basis of the search subspace the options ask for; null for exact search. */
export async function searchProjection(
  data: Float32Array,
  size: number,
  dim: number,
  options: Pick<PatchCoreOptions, "scoringDim" | "seed">,
  session?: SessionOptions,
): Promise<Float32Array | null> {
  const k = options.scoringDim;
  return k > 0 && k < dim ? principalSubspace(data, size, dim, k, { seed: options.seed, session }) : null;
}
