/**
 * A bank fitted on K shots' cached features through the detector's own bank fit
 * (detector/fit/bank-fit.ts), in the order a detector round learns them (the shots, then each shot's
 * variants), with the shots' leave-one-out scores: what the few-shot sweep and its scripts fit
 * for every setting and K without running the backbone again.
 */
import { coresetSpaceDim, openCoresetProjector } from "../../lib/anomaly/patchcore/bank-select";
import type { PatchCoreOptions } from "../../lib/anomaly/patchcore/patchcore";
import { RowBlockWriter } from "../../lib/anomaly/patchcore/row-blocks";
import { fitPatchCoreBank, type BankFit } from "../../lib/detector/fit/bank-fit";
import type { SessionOptions } from "../../lib/onnx";
import type { ShotFeatures } from "./fewshot-features";

export interface ShotGrid {
  patches: number;
  width: number;
  height: number;
}

/** `withVariants`: learn each shot's variants too. `mapSize`: the model's input size (leave-one-out map-max scores). */
export async function fitShotBank(
  shots: readonly ShotFeatures[],
  withVariants: boolean,
  grid: ShotGrid,
  dim: number,
  mapSize: { width: number; height: number },
  options: PatchCoreOptions,
  session: SessionOptions,
): Promise<BankFit> {
  const images = [...shots.map((s) => s.original), ...(withVariants ? shots.flatMap((s) => s.variants) : [])];
  const owners = Int32Array.from([...shots.keys(), ...(withVariants ? shots.flatMap((s, shot) => s.variants.map(() => shot)) : [])]);
  const space = new RowBlockWriter(coresetSpaceDim(dim, options));
  const projector = await openCoresetProjector(dim, options, session);
  try {
    for (const image of images) space.append(projector === null ? image : await projector.project(image, grid.patches));
  } finally {
    await projector?.release();
  }
  // Copies: the fit hands the shots' arrays to its worker, and the sweep fits them again.
  const learned = {
    space: space.finish(),
    images: images.length,
    patches: grid.patches,
    dim,
    features: async (i: number) => (images[i] as Float32Array).slice(),
  };
  const calibration = { owners, shots: shots.length, grid: { width: grid.width, height: grid.height }, map: mapSize };
  return fitPatchCoreBank(learned, options, session, new AbortController().signal, { calibration });
}
