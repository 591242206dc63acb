/**
 * Train on train/good, score test/, report the field's metrics and a per-stage time split.
 * Used by the CLI (`defect-detection eval`, `eval --shots`): what learns and inspects is an
 * EvalSubject, the detector's engine (detector-subject.ts) or a model trained elsewhere.
 */
import { readFile } from "node:fs/promises";
import type { StageTimings } from "../../lib/anomaly/types";
import { DEFAULT_MAX_PIXELS, preprocessImage, type PreprocessOptions } from "../../lib/image";
import type { HandedCalibration } from "../../lib/detector/types";
import type { ScoreMap, Tensor } from "../../lib/image/types";
import { aupro, auroc, averagePrecision, f1Max, pixelAuroc as pixelAurocOfMaps, recallAtFrr, type MapWithMask } from "../../lib/metrics";
import { calibratedFigures, type CalibratedFigures } from "./calibrated";
import { loadMask, readMvtecDataset } from "./mvtec-dataset";
import { figuresByDefectType, type DefectTypeFigures } from "./by-defect-type";

export interface EvalTimings {
  preprocess: number;
  backbone: number;
  scoring: number;
  post: number;
}

export interface AnomalyEvalReport extends CalibratedFigures {
  dataset: string;
  train_images: number;
  test_images: number;
  image_auroc: number;
  pixel_auroc: number | null;
  aupro: number | null;
  average_precision: number;
  f1_max: number;
  /** Share of defective parts caught at a 1 % (5 %) false-reject rate of the good test parts (the ceiling of any threshold). */
  recall_at_frr_1: number;
  recall_at_frr_5: number;
  /** The recall figures for each defect type (test folder) alone, against all good test parts. */
  by_defect_type: Record<string, DefectTypeFigures>;
  f1_threshold: number;
  /** Median per image, total and split by stage. */
  ms_per_image: number;
  ms_split: EvalTimings;
  fit_seconds: number;
  bank_size: number | null;
  /** Resident memory after inspecting (MB). */
  rss_mb: number;
  /** Largest resident memory of the process so far, learning and fit included (MB). */
  rss_peak_mb: number;
}

/** What an inspection gives the evaluation. */
export interface EvalInspection {
  score: number;
  /** At the tensor's resolution; null when the model gives none (no pixel metrics then). */
  map: ScoreMap | null;
  timings: Partial<StageTimings>;
}

/** What is evaluated: learns from train/good (unless trained elsewhere), then inspects test images. */
export interface EvalSubject {
  /**
   * Learns the training images; absent for a model trained elsewhere. `calibration`: the good
   * scores the detector hands over with its learning result (PatchCore).
   */
  learn?(files: readonly string[]): Promise<{ learned: number; size: number | null; calibration?: HandedCalibration }>;
  inspect(tensor: Tensor): Promise<EvalInspection>;
  /** Model size for the report (bank rows, Gaussians) when it does not come from learning. */
  size?(): number | null;
  /**
   * Called once every test image is inspected: the model may be freed before the pixel metrics
   * gather every map's scores (hundreds of MB for a few hundred images).
   */
  done?(): Promise<void>;
}

export interface AnomalyEvalOptions {
  data: string;
  trainLimit?: number;
  /** How test images become tensors (the training images' too, for subjects that learn). */
  preprocess: PreprocessOptions;
  subject: EvalSubject;
  /** The threshold node's *False rejects* (percent) for the calibrated figures; undefined = its default, 1. */
  frr?: number;
  /** Per-image options where they depend on the image (anomalib 0.x centre crops). */
  preprocessFor?: (bytes: Buffer) => Promise<PreprocessOptions>;
  /** False where the model gives no maps: pixel metrics are then null. */
  pixelMetrics?: () => boolean;
  progress?: (line: string) => void;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };
const MB = 1024 * 1024;

/** Process peak resident memory in MB (maxRSS is in KB). */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export async function evaluateAnomalyMethod(options: AnomalyEvalOptions): Promise<AnomalyEvalReport> {
  const dataset = readMvtecDataset(options.data, options.trainLimit);
  const log = options.progress ?? (() => undefined);
  const { width, height } = options.preprocess;
  const { subject } = options;

  const fitStart = performance.now();
  const learned = subject.learn === undefined ? { learned: 0, size: subject.size?.() ?? null } : await subject.learn(dataset.train);
  const fitSeconds = (performance.now() - fitStart) / 1000;
  if (learned.learned > 0) log(`learned ${learned.learned} images and fitted in ${fitSeconds.toFixed(1)} s`);

  const scores: number[] = [];
  const labels: number[] = [];
  const times: Record<keyof EvalTimings | "total", number[]> = { preprocess: [], backbone: [], scoring: [], post: [], total: [] };
  const pixelSamples: MapWithMask[] = [];
  let positives = 0;
  let maps = true;
  for (const sample of dataset.test) {
    const bytes = await readFile(sample.path);
    const t0 = performance.now();
    const imageOptions = options.preprocessFor === undefined ? options.preprocess : await options.preprocessFor(bytes);
    const { tensor } = await preprocessImage(bytes, imageOptions, LIMITS);
    const t1 = performance.now();
    const result = await subject.inspect(tensor);
    const total = performance.now() - t0;
    scores.push(result.score);
    labels.push(sample.defective ? 1 : 0);
    times.preprocess.push(t1 - t0);
    times.backbone.push(result.timings.backboneMs ?? 0);
    times.scoring.push(result.timings.scoringMs ?? 0);
    times.post.push(result.timings.postMs ?? 0);
    times.total.push(total);
    if (result.map === null) maps = false;
    if (dataset.hasMasks && result.map !== null) {
      const mask = await loadMask(sample, width, height);
      pixelSamples.push({ map: result.map.data, mask, width, height });
      for (const v of mask) positives += v;
    }
    if (scores.length % 100 === 0) log(`tested ${scores.length}/${dataset.test.length}`);
  }
  await subject.done?.();
  let pixelAuroc: number | null = null;
  let proArea: number | null = null;
  if (dataset.hasMasks && maps && positives > 0 && (options.pixelMetrics?.() ?? true)) {
    pixelAuroc = pixelAurocOfMaps(pixelSamples, positives);
    proArea = aupro(pixelSamples);
  }
  const best = f1Max(scores, labels);
  return {
    dataset: options.data,
    train_images: learned.learned,
    test_images: dataset.test.length,
    image_auroc: auroc(scores, labels),
    pixel_auroc: pixelAuroc,
    aupro: proArea,
    average_precision: averagePrecision(scores, labels),
    f1_max: best.f1,
    recall_at_frr_1: recallAtFrr(scores, labels, 0.01),
    recall_at_frr_5: recallAtFrr(scores, labels, 0.05),
    by_defect_type: figuresByDefectType(dataset.test, scores),
    ...calibratedFigures(scores, labels, "calibration" in learned ? learned.calibration : undefined, options.frr),
    f1_threshold: best.threshold,
    ms_per_image: median(times.total),
    ms_split: {
      preprocess: median(times.preprocess),
      backbone: median(times.backbone),
      scoring: median(times.scoring),
      post: median(times.post),
    },
    fit_seconds: fitSeconds,
    bank_size: learned.size,
    rss_mb: Math.round(process.memoryUsage().rss / MB),
    rss_peak_mb: peakRssMb(),
  };
}
