/**
 * PatchCore speed/accuracy sweep: extract every image's patch features once, then fit and score
 * each setting (coreset ratio, search subspace) on the same features, so the settings differ only
 * in what they change. The fit is the detector's own (detector/fit/bank-fit.ts, reading the kept
 * features instead of embedding again) and so is the scoring (detector/online/online-model.ts's
 * scoreEmbedding). Also times a raw onnxruntime `session.run` of the backbone on the same input,
 * the floor every setting shares.
 */
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { openPatchExtractor } from "../../lib/features/extractor";
import { neighbourhoodByDefault, neighbourhoodOf } from "../../lib/features/neighbourhood";
import type { PatchEmbedding } from "../../lib/features/types";
import { DEFAULT_MAX_PIXELS, preprocessImage, type PreprocessOptions, type Tensor } from "../../lib/image";
import { aupro, aurocSplit, auroc, f1Max, type MapWithMask } from "../../lib/metrics";
import { coresetSpaceDim, openCoresetProjector } from "../../lib/anomaly/patchcore/bank-select";
import { DEFAULT_PATCHCORE_OPTIONS, type PatchCoreOptions } from "../../lib/anomaly/patchcore/patchcore";
import { RowBlockWriter, type RowBlocks } from "../../lib/anomaly/patchcore/row-blocks";
import { fitPatchCoreBank } from "../../lib/detector/fit/bank-fit";
import { OnlineBank } from "../../lib/detector/online/online-bank";
import { scoreEmbedding } from "../../lib/detector/online/online-model";
import { toOrtOptions, type SessionOptions } from "../../lib/onnx";
import { loadMask, readMvtecDataset } from "./mvtec-dataset";

export interface BenchSetting {
  label: string;
  coresetRatio: number;
  scoringDim: number;
}

export interface BenchRow {
  label: string;
  coreset: number;
  scoring_dim: number;
  bank_size: number;
  image_auroc: number;
  pixel_auroc: number | null;
  aupro: number | null;
  f1_max: number;
  fit_seconds: number;
  ms: { preprocess: number; backbone: number; scoring: number; post: number; total: number };
}

export interface BenchReport {
  dataset: string;
  train_images: number;
  test_images: number;
  threads: number | "auto";
  raw_backbone_ms: number;
  feature_seconds: number;
  rss_mb: number;
  rows: BenchRow[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * A raw onnxruntime session of the backbone file, run on each test image right after the
 * pipeline's own backbone call: this machine's speed drifts within minutes, so the floor is
 * measured interleaved with what it is compared to.
 */
async function openRawBackbone(
  model: string,
  layers: string[],
  threads: number | undefined,
): Promise<{ time(tensor: Tensor): Promise<number>; release(): Promise<void> }> {
  // The package's own onnxruntime settings (threads, no spinning), so the ratio measures the wrapper.
  const session = await ort.InferenceSession.create(model, toOrtOptions(threads === undefined ? {} : { intraOpThreads: threads }));
  const input = session.inputNames[0] as string;
  return {
    async time(tensor) {
      const feed = { [input]: new ort.Tensor("float32", tensor.data, tensor.dims) };
      const t0 = performance.now();
      await session.run(feed, layers);
      return performance.now() - t0;
    },
    release: () => session.release(),
  };
}

/** Every training image's rows in the coreset space, as a detector round places them. */
async function coresetSpaceOf(train: readonly PatchEmbedding[], options: PatchCoreOptions, session: SessionOptions): Promise<RowBlocks> {
  const dim = train[0]?.dim ?? 0;
  const writer = new RowBlockWriter(coresetSpaceDim(dim, options));
  const projector = await openCoresetProjector(dim, options, session);
  try {
    for (const e of train) writer.append(projector === null ? e.data : await projector.project(e.data, e.patches));
  } finally {
    await projector?.release();
  }
  return writer.finish();
}

export async function benchPatchCore(options: {
  data: string;
  backbone: string;
  layers: string[];
  preprocess: PreprocessOptions;
  trainLimit: number;
  settings: BenchSetting[];
  threads?: number;
  progress?: (line: string) => void;
}): Promise<BenchReport> {
  const log = options.progress ?? (() => undefined);
  const session: SessionOptions = options.threads === undefined ? {} : { intraOpThreads: options.threads };
  const limits = { maxPixels: DEFAULT_MAX_PIXELS };
  const dataset = readMvtecDataset(options.data, options.trainLimit);
  const { width, height } = options.preprocess;
  // The neighbourhood an unedited detector learns with, so the bank scored is the one it builds.
  const neighbourhood = neighbourhoodOf(neighbourhoodByDefault("patchcore", false, options.backbone), options.layers.length);
  const extractor = await openPatchExtractor({ model: options.backbone, layers: options.layers }, session, neighbourhood);
  const featureStart = performance.now();
  try {
    const train: PatchEmbedding[] = [];
    for (const path of dataset.train) train.push(await extractor.embed((await preprocessImage(await readFile(path), options.preprocess, limits)).tensor));
    const dim = train[0]?.dim ?? 0;
    const patches = train[0]?.patches ?? 0;
    // Every setting keeps the default projection and seed, so the coreset space is shared too.
    const space = await coresetSpaceOf(train, DEFAULT_PATCHCORE_OPTIONS, session);
    log(`train features: ${space.count} patches x ${dim}`);

    const test: Array<{ embedding: PatchEmbedding; defective: boolean; mask: Uint8Array }> = [];
    const pre: number[] = [];
    const back: number[] = [];
    const raw: number[] = [];
    const rawBackbone = await openRawBackbone(options.backbone, options.layers, options.threads);
    for (const sample of dataset.test) {
      const bytes = await readFile(sample.path);
      const t0 = performance.now();
      const { tensor } = await preprocessImage(bytes, options.preprocess, limits);
      const t1 = performance.now();
      const embedding = await extractor.embed(tensor);
      back.push(performance.now() - t1);
      pre.push(t1 - t0);
      raw.push(await rawBackbone.time(tensor));
      test.push({ embedding, defective: sample.defective, mask: dataset.hasMasks ? await loadMask(sample, width, height) : new Uint8Array(0) });
    }
    await rawBackbone.release();
    const featureSeconds = (performance.now() - featureStart) / 1000;
    log(`test features: ${test.length} images`);

    const rowsOut: BenchRow[] = [];
    for (const setting of options.settings) {
      const patchcore: PatchCoreOptions = { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: setting.coresetRatio, scoringDim: setting.scoringDim };
      const fitStart = performance.now();
      const learned = { space, images: train.length, patches, dim, features: async (i: number) => (train[i] as PatchEmbedding).data };
      const { bank: fitted } = await fitPatchCoreBank(learned, patchcore, session, new AbortController().signal, { keepSpace: true });
      const bank = await OnlineBank.fitted(fitted, patchcore, session);
      const fitSeconds = (performance.now() - fitStart) / 1000;
      const scores: number[] = [];
      const labels: number[] = [];
      const scoring: number[] = [];
      const post: number[] = [];
      const maps: MapWithMask[] = [];
      for (const item of test) {
        const { inspection } = await scoreEmbedding(bank, item.embedding, width, height);
        scoring.push(inspection.timings.scoringMs ?? 0);
        post.push(inspection.timings.postMs ?? 0);
        scores.push(inspection.score);
        labels.push(item.defective ? 1 : 0);
        if (dataset.hasMasks && inspection.map !== null) maps.push({ map: inspection.map.data, mask: item.mask, width, height });
      }
      await bank.release();
      let pixel: number | null = null;
      let pro: number | null = null;
      if (maps.length > 0) {
        const pos: number[] = [];
        let negCount = 0;
        for (const m of maps) for (let i = 0; i < m.mask.length; i++) if ((m.mask[i] as number) !== 0) pos.push(m.map[i] as number);
        negCount = maps.length * width * height - pos.length;
        const neg = new Float32Array(negCount);
        let n = 0;
        for (const m of maps) for (let i = 0; i < m.mask.length; i++) if ((m.mask[i] as number) === 0) neg[n++] = m.map[i] as number;
        pixel = aurocSplit(Float32Array.from(pos), neg);
        pro = aupro(maps);
      }
      const ms = {
        preprocess: median(pre),
        backbone: median(back),
        scoring: median(scoring),
        post: median(post),
        total: 0,
      };
      ms.total = ms.preprocess + ms.backbone + ms.scoring + ms.post;
      const row: BenchRow = {
        label: setting.label,
        coreset: setting.coresetRatio,
        scoring_dim: setting.scoringDim,
        bank_size: fitted.size,
        image_auroc: auroc(scores, labels),
        pixel_auroc: pixel,
        aupro: pro,
        f1_max: f1Max(scores, labels).f1,
        fit_seconds: fitSeconds,
        ms,
      };
      rowsOut.push(row);
      log(`${setting.label}: image AUROC ${row.image_auroc.toFixed(3)}, scoring ${ms.scoring.toFixed(1)} ms`);
    }
    return {
      dataset: options.data,
      train_images: dataset.train.length,
      test_images: dataset.test.length,
      threads: options.threads ?? "auto",
      raw_backbone_ms: median(raw),
      feature_seconds: featureSeconds,
      rss_mb: Math.round(process.memoryUsage().rss / (1024 * 1024)),
      rows: rowsOut,
    };
  } finally {
    await extractor.release();
  }
}
