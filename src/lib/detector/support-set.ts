/**
 * Few-shot support-set augmentation in the detector's PatchCore rounds: with a handful of good
 * images the bank lacks the normal variation of the line (a part turned a little, mirrored,
 * lit a little brighter), so each of the first shots is also learned as variants of itself
 * (anomaly/patchcore/augment.ts), as `eval --shots` does with createPatchCoreTrainer.
 *
 * The variants are embedded at the fit, not as shots arrive: a round that ends with more shots
 * than `maxShots` in "auto" mode never pays for them. Until then the round keeps a copy of each
 * shot's tensor, never more than `maxShots` of them, and none once "auto" mode is past the limit.
 */
import { augmentEnabled, DEFAULT_AUGMENT_OPTIONS, type AugmentMode, type AugmentOptions } from "../anomaly/patchcore/augment";
import { embedShotVariants } from "../anomaly/patchcore/trainer";
import type { PatchExtractor } from "../features/extractor";
import type { PreprocessOptions, Tensor } from "../image/types";
import type { AugmentationRecord } from "./learned-record";
import { fitStopped } from "./off-thread";

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
export function augmentOptionsFor(choice: AugmentChoice, preprocessing: PreprocessOptions | null): AugmentOptions {
  const norm = preprocessing === null ? {} : { mean: [...preprocessing.mean], std: [...preprocessing.std] };
  // The library's default rotations ([180]) equal the two flips together: nothing is lost.
  return { ...DEFAULT_AUGMENT_OPTIONS, mode: choice.mode, rotations: [...choice.rotations], ...norm };
}

export class SupportSet {
  /** Copies of the first shots' tensors: the message that brought one may be changed downstream. */
  private kept: Tensor[] = [];
  private count = 0;

  private readonly maxShots: number;

  constructor(private readonly choice: AugmentChoice) {
    this.maxShots = choice.maxShots;
  }

  add(tensor: Tensor): void {
    this.count++;
    if (this.choice.mode === "off") return;
    if (this.choice.mode === "auto" && this.count > this.maxShots) {
      this.kept = [];
      return;
    }
    if (this.kept.length < this.maxShots) this.kept.push({ data: tensor.data.slice(), dims: [...tensor.dims], layout: tensor.layout });
  }

  /** Whether a fit of the round now would learn variants. */
  get applies(): boolean {
    return augmentEnabled({ mode: this.choice.mode, maxShots: this.maxShots }, this.count) && this.kept.length > 0;
  }

  /**
   * The patch features of every kept shot's variants (shot i's from plan i, so the same shots
   * give the same bank), and what was learned; none when augmentation does not apply. Stops
   * between variants when `signal` is aborted (the node is closing).
   */
  async variants(
    extractor: PatchExtractor,
    preprocessing: PreprocessOptions | null,
    signal: AbortSignal,
  ): Promise<{ features: Float32Array[]; record: AugmentationRecord }> {
    const features: Float32Array[] = [];
    const applies = this.applies;
    if (applies) {
      const options = augmentOptionsFor(this.choice, preprocessing);
      const check = (): void => {
        if (signal.aborted) throw fitStopped();
      };
      for (const [index, tensor] of this.kept.entries()) features.push(...(await embedShotVariants(extractor, tensor, options, index, check)));
    }
    const record = { mode: this.choice.mode, shots: applies ? this.kept.length : 0, variants: features.length, rotations: [...this.choice.rotations] };
    return { features, record };
  }

  release(): void {
    this.kept = [];
  }
}
