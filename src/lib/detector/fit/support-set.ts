/**
 * Few-shot support-set augmentation in the detector's PatchCore rounds: with a handful of good
 * images the bank lacks the normal variation of the line (a part turned a little, mirrored,
 * lit a little brighter), so each of the first shots is also learned as variants of itself
 * (anomaly/patchcore/augment.ts).
 *
 * The variants are made at the fit, from the tensors the round keeps anyway, and only described
 * here: each is a warp of its shot that can be made again, one at a time, whenever its features
 * are needed (to place it in the coreset space, then again if the coreset keeps some of its
 * rows), so a round never holds a variant's tensor or features longer than one embedding.
 */
import {
  augmentationPlan,
  augmentEnabled,
  augmentTensor,
  DEFAULT_AUGMENT_OPTIONS,
  type AugmentMode,
  type AugmentOptions,
} from "../../anomaly/patchcore/augment";
import type { PreprocessOptions, Tensor } from "../../image/types";
import type { AugmentationRecord } from "../storage/learned-record";

/** What the detector's options choose; the rest of the augmentation keeps the library's defaults. */
export interface AugmentChoice {
  /** "auto": only rounds of at most `maxShots` images; "on": the first `maxShots` shots of any round; "off": never. */
  mode: AugmentMode;
  /** Extra exact turns in degrees (e.g. every 45 for round parts), besides the flips and the small random turns. */
  rotations: number[];
  /** "auto" augments rounds of at most this many images, "on" the first this many of any round. */
  maxShots: number;
}

export const DEFAULT_AUGMENT_CHOICE: Readonly<AugmentChoice> = Object.freeze({ mode: "auto", rotations: [], maxShots: DEFAULT_AUGMENT_OPTIONS.maxShots });

/**
 * The augmentation of a round whose samples were made with `preprocessing`: brightness variants
 * scale pixel values, so they undo the same normalisation. Samples that did not say how they
 * were made are taken as the preprocess node's default (ImageNet mean and std).
 */
export function augmentOptionsFor(choice: AugmentChoice, preprocessing: PreprocessOptions | null, seed = DEFAULT_AUGMENT_OPTIONS.seed): AugmentOptions {
  const norm = preprocessing === null ? {} : { mean: [...preprocessing.mean], std: [...preprocessing.std] };
  // The library's default rotations ([180]) equal the two flips together: nothing is lost.
  return { ...DEFAULT_AUGMENT_OPTIONS, mode: choice.mode, rotations: [...choice.rotations], seed, ...norm };
}

/** One variant to learn: a warp of shot `shot`, made on demand. */
export interface Variant {
  shot: number;
  make(): Tensor;
}

/**
 * The variants a round of `shots` learns: shot i's from plan i (so the same shots give the same
 * bank), for the first `maxShots` shots in "on" mode, every shot of a round of at most
 * `maxShots` in "auto" mode, none otherwise; and the record of it. `seed` draws other random
 * variants (the few-shot sweep measures how much a figure owes to one draw).
 */
export function supportVariants(
  choice: AugmentChoice,
  shots: readonly Tensor[],
  preprocessing: PreprocessOptions | null,
  seed?: number,
): { variants: Variant[]; record: AugmentationRecord } {
  const applies = augmentEnabled({ mode: choice.mode, maxShots: choice.maxShots }, shots.length) && shots.length > 0;
  const augmented = applies ? shots.slice(0, choice.maxShots) : [];
  const options = augmentOptionsFor(choice, preprocessing, seed);
  const variants = augmented.flatMap((tensor, shot) =>
    augmentationPlan(options, shot).map((step) => ({ shot, make: () => augmentTensor(tensor, step, options) })),
  );
  return { variants, record: { mode: choice.mode, shots: augmented.length, variants: variants.length, rotations: [...choice.rotations] } };
}
