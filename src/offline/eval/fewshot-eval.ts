/**
 * `defect-detection eval --shots K`: the detector in its few-shot setting learns the first K
 * sorted good images (with their augmented variants where the setting augments), as a node of
 * that setting would; a good-only threshold comes from the shots themselves (each scored against
 * the bank without its own rows, leave-one-out.ts; mean + 3 sd), then the usual evaluation of
 * DIR/test plus F1 at that threshold.
 */
import type { DetectorOptions } from "../../lib/detector/options";
import type { ImageScoreRule } from "../../lib/anomaly/patchcore/patchcore";
import { evaluateAnomalyMethod, type AnomalyEvalReport, type EvalSubject } from "./anomaly-eval";
import { evalSubjectOf, openDetectorSubject } from "./detector-subject";
import { readMvtecDataset } from "./mvtec-dataset";
import { calibratedThreshold, f1AtThreshold } from "./shot-calibration";

export interface FewShotEvalOptions {
  data: string;
  /** Parsed detector options of setting "fewshot"; trainCount is K. */
  detector: DetectorOptions;
  /** Where relative paths in the options start. */
  baseDir: string;
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
function recording(subject: EvalSubject, scores: number[]): EvalSubject {
  return {
    ...subject,
    async inspect(tensor) {
      const result = await subject.inspect(tensor);
      scores.push(result.score);
      return result;
    },
  };
}

export async function evaluateFewShot(options: FewShotEvalOptions): Promise<FewShotEvalReport> {
  const { detector } = options;
  const shots = detector.trainCount;
  const dataset = readMvtecDataset(options.data, shots);
  const log = options.progress ?? (() => undefined);
  const subject = await openDetectorSubject(detector, options.baseDir, { leaveOneOut: true });
  try {
    const scores: number[] = [];
    const skip = (error: unknown, file: string): void => log(`skipped ${file}: ${error instanceof Error ? error.message : String(error)}`);
    const report = await evaluateAnomalyMethod({
      data: options.data,
      trainLimit: shots,
      preprocess: detector.folderPreprocess,
      subject: recording(evalSubjectOf(subject, skip), scores),
      progress: options.progress,
    });
    const record = await subject.record();
    const calibration = record.leaveOneOut ?? [];
    const threshold = calibratedThreshold(calibration);
    const labels = dataset.test.map((t) => (t.defective ? 1 : 0));
    const variants = record.augmentation?.variants ?? 0;
    return {
      ...report,
      shots: record.trainedOn,
      augmented: variants > 0,
      standardized: detector.standardize,
      image_score: detector.patchcore.imageScore,
      learned_images: record.trainedOn + variants,
      threshold,
      f1_calibrated: threshold === null ? null : f1AtThreshold(scores, labels, threshold),
      calibration_scores: calibration,
    };
  } finally {
    await subject.release();
  }
}
