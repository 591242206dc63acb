/**
 * `defect-detection eval --shots K`: a few-shot PatchCore fit on the first K sorted good images
 * (with their augmented variants when augmentation applies), a good-only threshold from the shots
 * themselves (leave-one-out, mean + 3 sd), then the usual evaluation of DIR/test plus F1 at that
 * threshold.
 */
import type { PatchExtractor } from "../features/extractor";
import type { PreprocessOptions } from "../image";
import type { SessionOptions } from "../onnx";
import { augmentEnabled, type AugmentOptions } from "../anomaly/patchcore/augment";
import { createPatchCoreModel } from "../anomaly/patchcore/trainer";
import { PatchCoreScorer, type ImageScoreRule, type PatchCoreOptions } from "../anomaly/patchcore/patchcore";
import type { AnomalyModel } from "../anomaly/types";
import { evaluateAnomalyMethod, type AnomalyEvalReport } from "./anomaly-eval";
import { buildTracedBank, leaveOneOutThreshold } from "./fewshot-bank";
import { shotFeatures } from "./fewshot-features";
import { standardizingExtractor } from "../features/instance-norm";
import { f1AtThreshold } from "./fewshot-sweep";
import { readMvtecDataset } from "./mvtec-dataset";

export interface FewShotEvalOptions {
  data: string;
  extractor: PatchExtractor;
  preprocess: PreprocessOptions;
  shots: number;
  augment: AugmentOptions;
  patchcore: PatchCoreOptions;
  minBankSize: number;
  /** Per-image feature standardisation of shots, variants and test images (features/instance-norm.ts). */
  standardize?: boolean;
  session?: SessionOptions;
  progress?: (line: string) => void;
}

export interface FewShotEvalReport extends AnomalyEvalReport {
  shots: number;
  augmented: boolean;
  /** Whether each image's patch features were standardised (--standardize). */
  standardized: boolean;
  /** How image scores were made from patch scores (--image-score). */
  image_score: ImageScoreRule;
  /** Images the bank was learned from: the shots and their variants. */
  learned_images: number;
  /** Leave-one-out mean + 3 sd of the shots' scores; null with one shot. */
  threshold: number | null;
  f1_calibrated: number | null;
  calibration_scores: number[];
}

/** Records each score the evaluation asks for, in test order. */
function recording(model: AnomalyModel, scores: number[]): AnomalyModel {
  return {
    async inspect(tensor) {
      const result = await model.inspect(tensor);
      scores.push(result.score);
      return result;
    },
    release: () => model.release(),
  };
}

export async function evaluateFewShot(options: FewShotEvalOptions): Promise<FewShotEvalReport> {
  const log = options.progress ?? (() => undefined);
  const dataset = readMvtecDataset(options.data, options.shots);
  const shots = dataset.train.length;
  const augmented = augmentEnabled(options.augment, shots);
  const fitStart = performance.now();
  const standardize = options.standardize === true;
  // Shots, variants and test images all embed through it, as in the detector node.
  const extractor = standardize ? standardizingExtractor(options.extractor) : options.extractor;
  const set = await shotFeatures(dataset, shots, extractor, options.preprocess, augmented ? options.augment : null);
  const traced = await buildTracedBank(set.shots, augmented, set.dim, options.patchcore, options.minBankSize, options.session);
  const calibration = await leaveOneOutThreshold(traced, set.shots, set.grid, options.preprocess, options.patchcore, options.session);
  const fitSeconds = (performance.now() - fitStart) / 1000;
  log(`fitted on ${shots} shots${augmented ? " with augmentation" : ""} in ${fitSeconds.toFixed(1)} s, bank ${traced.bank.size}`);
  const scores: number[] = [];
  const scorer = await PatchCoreScorer.open(traced.bank, options.patchcore, options.session);
  const model = recording(createPatchCoreModel(extractor, scorer), scores);
  const report = await evaluateAnomalyMethod({ data: options.data, preprocess: options.preprocess, subject: { model }, progress: options.progress });
  const labels = dataset.test.map((t) => (t.defective ? 1 : 0));
  return {
    ...report,
    train_images: shots,
    fit_seconds: fitSeconds,
    bank_size: traced.bank.size,
    shots,
    augmented,
    standardized: standardize,
    image_score: options.patchcore.imageScore,
    learned_images: set.shots.reduce((n, s) => n + 1 + (augmented ? s.variants.length : 0), 0),
    threshold: calibration.threshold,
    f1_calibrated: calibration.threshold === null ? null : f1AtThreshold(scores, labels, calibration.threshold),
    calibration_scores: calibration.scores,
  };
}
