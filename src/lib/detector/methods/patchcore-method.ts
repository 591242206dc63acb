/**
 * PatchCore for the detector: learning rounds that end in a memory bank (patchcore-round.ts),
 * with few-shot support-set augmentation (support-set.ts), saved and loaded with a record of
 * what it was learned with.
 */
import { searchProjection } from "../../anomaly/patchcore/bank-select";
import type { MemoryBank, PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import type { SessionOptions } from "../../onnx";
import { openBackboneContext, type BackboneMethodConfig } from "./backbone-context";
import { OnlineBank } from "../online/online-bank";
import { onlinePatchCoreModel } from "../online/online-model";
import { onlineBankFrom } from "../storage/online-store";
import { recordedBlurSigma } from "../storage/learned-record";
import { createPatchCoreRound } from "../fit/patchcore-round";
import { DEFAULT_AUGMENT_CHOICE, type AugmentChoice } from "../fit/support-set";
import type { LearningMethod } from "../types";

export interface PatchCoreMethodConfig extends BackboneMethodConfig {
  options: PatchCoreOptions;
  /**
   * Weight of confirmed defects' evidence in scores (online-scorers.ts); 0 = not used. A scoring
   * choice, not part of what was learned: changing it keeps the saved model.
   */
  defectWeight?: number;
  /**
   * Weight of the whole part's appearance in the image score (appearance.ts); 0 = not used. The fit
   * hands over leave-one-out scores with it; a saved model keeps its appearance vectors whatever the weight.
   */
  appearanceWeight?: number;
  /** Look-alikes each score is calibrated by (lookalikes.ts), fitted with the appearance model; 0 or absent: none. A saved model keeps its own. */
  lookalikes?: number;
  /** Fit place weights at each round learned from good parts (place-weights.ts; default off). A saved model scores with the weights it was fitted with. */
  placeWeights?: boolean;
  /** Support-set augmentation of small rounds (default: "auto", no extra turns). */
  augment?: AugmentChoice;
  /**
   * Score each learned image against the fit without its own rows, record the scores and hand
   * them over with the learning result (a good-only threshold's calibration). Default on; off
   * saves one backbone pass and one search a learned image at each fit.
   */
  leaveOneOut?: boolean;
}

/** The search projection the options ask for, recomputed when the saved one differs. */
async function withProjection(bank: MemoryBank, options: PatchCoreOptions, session: SessionOptions): Promise<MemoryBank> {
  const k = options.scoringDim > 0 && options.scoringDim < bank.dim ? options.scoringDim : 0;
  const saved = bank.projection === null ? 0 : bank.projection.length / bank.dim;
  if (k === saved) return bank;
  return { ...bank, projection: await searchProjection(bank.data, bank.size, bank.dim, options, session) };
}

export async function openPatchCoreMethod(config: PatchCoreMethodConfig): Promise<LearningMethod> {
  const context = await openBackboneContext(config, "patchcore");
  const { options, session, defectWeight } = config;
  const appearanceWeight = config.appearanceWeight ?? 0;
  return {
    kind: "learning",
    method: "patchcore",
    startRound: async () =>
      createPatchCoreRound({
        extractor: await context.openExtractor(),
        learnedWith: context.learnedWith,
        options,
        session,
        augment: config.augment ?? DEFAULT_AUGMENT_CHOICE,
        defectWeight,
        appearanceWeight,
        lookalikes: config.lookalikes ?? 0,
        placeWeights: config.placeWeights === true,
        leaveOneOut: config.leaveOneOut !== false,
      }),
    async load(path) {
      const { file, record } = await context.readChecked(path);
      const snapshot = onlineBankFrom(file, path);
      // The map is blurred as at the fit, whatever the default is now: the threshold was calibrated on such maps.
      const loaded = { ...options, blurSigma: recordedBlurSigma(record) };
      const bank = await withProjection(snapshot.bank, loaded, session);
      const extractor = await context.openExtractor(record);
      try {
        return onlinePatchCoreModel(extractor, await OnlineBank.open({ ...snapshot, bank }, loaded, session, defectWeight, appearanceWeight), record);
      } catch (error) {
        await extractor.release();
        throw error;
      }
    },
    release: () => context.release(),
  };
}
