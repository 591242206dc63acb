/**
 * Train on train/good, score test/, report the field's metrics and a per-stage time split.
 * Used by the CLI (`defect-detection eval`) and the benchmark.
 */
import { readFile } from "node:fs/promises";
import { DEFAULT_MAX_PIXELS, preprocessImage, type PreprocessOptions } from "../image";
import { aupro, auroc, aurocSplit, averagePrecision, f1Max, type MapWithMask } from "../metrics";
import type { AnomalyModel, AnomalyTrainer } from "../anomaly/types";
import { loadMask, readMvtecDataset } from "./mvtec-dataset";

export interface EvalTimings {
  preprocess: number;
  backbone: number;
  scoring: number;
  post: number;
}

export interface AnomalyEvalReport {
  dataset: string;
  train_images: number;
  test_images: number;
  image_auroc: number;
  pixel_auroc: number | null;
  aupro: number | null;
  average_precision: number;
  f1_max: number;
  f1_threshold: number;
  /** Median per image, total and split by stage. */
  ms_per_image: number;
  ms_split: EvalTimings;
  fit_seconds: number;
  bank_size: number | null;
  /** Resident memory after inspecting (MB). */
  rss_mb: number;
}

/** Either a trainer that learns from train/good, or a model trained elsewhere (anomalib). */
export type EvalSubject = { trainer: AnomalyTrainer } | { model: AnomalyModel };

export interface AnomalyEvalOptions {
  data: string;
  trainLimit?: number;
  preprocess: PreprocessOptions;
  subject: EvalSubject;
  /** Per-image options where they depend on the image (anomalib 0.x centre crops). */
  preprocessFor?: (bytes: Buffer) => Promise<PreprocessOptions>;
  /** False where the model gives no maps: pixel metrics are then null. */
  pixelMetrics?: () => boolean;
  /** Bank size (or model size) once fitted, for the report. */
  modelSize?: () => number | null;
  progress?: (line: string) => void;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };

export async function evaluateAnomalyMethod(options: AnomalyEvalOptions): Promise<AnomalyEvalReport> {
  const dataset = readMvtecDataset(options.data, options.trainLimit);
  const log = options.progress ?? (() => undefined);
  const { width, height } = options.preprocess;

  const fitStart = performance.now();
  const subject = options.subject;
  const training = "trainer" in subject ? dataset.train : [];
  let model: AnomalyModel;
  if ("trainer" in subject) {
    for (const [i, path] of training.entries()) {
      const { tensor } = await preprocessImage(await readFile(path), options.preprocess, LIMITS);
      await subject.trainer.add(tensor);
      if ((i + 1) % 50 === 0) log(`features ${i + 1}/${training.length}`);
    }
    model = await subject.trainer.fit();
  } else {
    model = subject.model;
  }
  const fitSeconds = (performance.now() - fitStart) / 1000;
  if (training.length > 0) log(`fitted in ${fitSeconds.toFixed(1)} s`);

  try {
    const scores: number[] = [];
    const labels: number[] = [];
    const times: Record<keyof EvalTimings | "total", number[]> = { preprocess: [], backbone: [], scoring: [], post: [], total: [] };
    const pixelSamples: MapWithMask[] = [];
    let positives = 0;
    for (const sample of dataset.test) {
      const bytes = await readFile(sample.path);
      const t0 = performance.now();
      const imageOptions = options.preprocessFor === undefined ? options.preprocess : await options.preprocessFor(bytes);
      const { tensor } = await preprocessImage(bytes, imageOptions, LIMITS);
      const t1 = performance.now();
      const result = await model.inspect(tensor);
      const total = performance.now() - t0;
      scores.push(result.score);
      labels.push(sample.defective ? 1 : 0);
      times.preprocess.push(t1 - t0);
      times.backbone.push(result.timings.backboneMs);
      times.scoring.push(result.timings.scoringMs);
      times.post.push(result.timings.postMs);
      times.total.push(total);
      if (dataset.hasMasks) {
        const mask = await loadMask(sample, width, height);
        pixelSamples.push({ map: result.map.data, mask, width, height });
        for (const v of mask) positives += v;
      }
      if (scores.length % 100 === 0) log(`tested ${scores.length}/${dataset.test.length}`);
    }
    let pixelAuroc: number | null = null;
    let proArea: number | null = null;
    if (dataset.hasMasks && positives > 0 && (options.pixelMetrics?.() ?? true)) {
      const total = pixelSamples.length * width * height;
      const pos = new Float32Array(positives);
      const neg = new Float32Array(total - positives);
      let pi = 0;
      let ni = 0;
      for (const s of pixelSamples) {
        for (let i = 0; i < s.mask.length; i++) {
          if ((s.mask[i] as number) !== 0) pos[pi++] = s.map[i] as number;
          else neg[ni++] = s.map[i] as number;
        }
      }
      pixelAuroc = aurocSplit(pos, neg);
      proArea = aupro(pixelSamples);
    }
    const best = f1Max(scores, labels);
    return {
      dataset: options.data,
      train_images: training.length,
      test_images: dataset.test.length,
      image_auroc: auroc(scores, labels),
      pixel_auroc: pixelAuroc,
      aupro: proArea,
      average_precision: averagePrecision(scores, labels),
      f1_max: best.f1,
      f1_threshold: best.threshold,
      ms_per_image: median(times.total),
      ms_split: {
        preprocess: median(times.preprocess),
        backbone: median(times.backbone),
        scoring: median(times.scoring),
        post: median(times.post),
      },
      fit_seconds: fitSeconds,
      bank_size: options.modelSize?.() ?? null,
      rss_mb: Math.round(process.memoryUsage().rss / (1024 * 1024)),
    };
  } finally {
    await model.release();
  }
}
