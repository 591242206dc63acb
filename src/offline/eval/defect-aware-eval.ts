/**
 * Good-only against defect-aware PatchCore on the same test set, with a few labelled defects.
 *
 *   const report = await evaluateDefectAware({
 *     data: "../shared/datasets/casting",   // train/good, train_defect/<type>, test/<type>
 *     extractor,                            // openPatchExtractor(...): the caller opens and releases it
 *     preprocess,                           // as for `evaluateAnomalyMethod`
 *     shots: 16,                            // good bank: first 16 sorted train/good images
 *     defectShots: 10,                      // labelled: first 10 sorted train_defect images
 *   });                                     // -> DefectAwareReport (JSON-friendly)
 *
 * Data use, so nothing is tuned on the test set:
 *   - the good bank is built from the first `shots` train/good images;
 *   - the next `calibrationShots` train/good images are held-out good samples for calibration;
 *   - the labelled defects feed the defect bank and calibration; scored leave-one-out against
 *     the defect bank (each against the bank without its own patches) wherever it is used;
 *   - lambda (defect-bank weight) is chosen on those labelled samples only (`chooseLambda`).
 * Three operating points are reported on the test set:
 *   good_only          PatchCore score, threshold mean + k sd of the held-out good scores;
 *   good_only_labelled PatchCore score, F1-optimal threshold on held-out good + labelled defects
 *                      (use 1 of the issue: calibration alone);
 *   defect_aware       defect-bank score, F1-optimal threshold on the same labelled samples.
 */
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import type { PatchExtractor } from "../../lib/features/extractor";
import type { PatchEmbedding } from "../../lib/features/types";
import { DEFAULT_MAX_PIXELS, preprocessImage, type PreprocessOptions } from "../../lib/image";
import type { SessionOptions } from "../../lib/onnx";
import { DEFAULT_K, f1Threshold, sigmaThreshold } from "../../lib/threshold";
import { buildMemoryBank, DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer, type PatchCoreOptions } from "../../lib/anomaly/patchcore/patchcore";
import {
  buildDefectBank,
  chooseLambda,
  defectAwareScore,
  DEFAULT_DEFECT_PATCH_OPTIONS,
  DEFAULT_LAMBDAS,
  DefectBankSearch,
  defectEvidence,
  patchGridMask,
  selectDefectPatches,
  type DefectPatchOptions,
  type LabelledPatches,
  type ScoredSample,
} from "../../lib/anomaly/patchcore/defect-bank";
import { listLabelledDefects, loadDefectRegion } from "./defect-aware-data";
import { maxHeadEvidence, trainRegionClassifier, type RegionSample } from "./defect-aware-classifier";
import { openHeadScorer, type HeadScorer } from "../../lib/anomaly/patchcore/region-head";
import { scoreTestSet, type OperatingPoint } from "./defect-aware-test";
import { cachedEmbedding, type EmbeddingCache } from "./embedding-cache";
import { readMvtecDataset } from "./mvtec-dataset";
import { DefectError } from "../../lib/errors";

/** Held-out good images for calibration when not given: as many as the largest few-shot K. */
export const DEFAULT_CALIBRATION_SHOTS = 16;

export interface DefectAwareEvalOptions {
  data: string;
  extractor: PatchExtractor;
  preprocess: PreprocessOptions;
  /** Good images in the bank (first K sorted). */
  shots: number;
  /** Labelled defect images (first N sorted under train_defect/). */
  defectShots: number;
  /** Held-out good images (the ones after the K shots) used only to calibrate; default 16. */
  calibrationShots?: number;
  patchcore?: Partial<PatchCoreOptions>;
  defectPatches?: Partial<DefectPatchOptions>;
  lambdas?: readonly number[];
  /** k of the good-only mean + k sd threshold; default 3. */
  sigmaK?: number;
  session?: SessionOptions;
  /** Also train the logistic patch head where every labelled defect has a mask or boxes; default true. */
  classifier?: boolean;
  /** Cache of patch features on disk (for sweeps); none by default. */
  cache?: EmbeddingCache;
  progress?: (line: string) => void;
}

export interface DefectAwareReport {
  dataset: string;
  shots: number;
  defect_shots: number;
  calibration_shots: number;
  test_images: number;
  test_defects: number;
  bank_size: number;
  defect_bank_size: number;
  /** "mask" / "boxes" where the labelled defects had regions, else "top-patches". */
  defect_regions: string;
  lambda: number;
  lambda_aurocs: Array<{ lambda: number; auroc: number }>;
  good_only: OperatingPoint;
  good_only_labelled: OperatingPoint;
  defect_aware: OperatingPoint;
  /** PatchCore + logistic patch head (regions only); absent where the labels have no regions. */
  classifier?: OperatingPoint & { mu: number; mu_aurocs: Array<{ lambda: number; auroc: number }> };
}

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };

export interface CalibratedThresholds {
  /** mean + k sd of the held-out good PatchCore scores: needs no defect. */
  goodOnly: number;
  /** F1-optimal on held-out good + labelled defects, PatchCore scores. */
  goodOnlyLabelled: number;
  /** F1-optimal on the same samples, defect-aware scores (defects scored leave-one-out). */
  defectAware: number;
}

/** The three thresholds from the labelled training samples; `defects` carry leave-one-out evidence. */
export function calibrateThresholds(good: readonly ScoredSample[], defects: readonly ScoredSample[], lambda: number, sigmaK: number): CalibratedThresholds {
  const plain = (list: readonly ScoredSample[]): number[] => list.map((s) => s.goodScore);
  const aware = (list: readonly ScoredSample[]): number[] => list.map((s) => defectAwareScore(s, lambda));
  return {
    goodOnly: sigmaThreshold(plain(good), sigmaK),
    goodOnlyLabelled: f1Threshold(plain(good), plain(defects)).threshold,
    defectAware: f1Threshold(aware(good), aware(defects)).threshold,
  };
}

interface Scored extends ScoredSample {
  goodDistances: Float32Array;
  embedding: PatchEmbedding;
}

export async function evaluateDefectAware(options: DefectAwareEvalOptions): Promise<DefectAwareReport> {
  const log = options.progress ?? (() => undefined);
  const calibrationShots = options.calibrationShots ?? DEFAULT_CALIBRATION_SHOTS;
  const patchcore: PatchCoreOptions = { ...DEFAULT_PATCHCORE_OPTIONS, ...options.patchcore };
  const patchOptions: DefectPatchOptions = { ...DEFAULT_DEFECT_PATCH_OPTIONS, ...options.defectPatches };
  const dataset = readMvtecDataset(options.data);
  if (dataset.train.length < options.shots + calibrationShots) {
    throw new DefectError(
      "noTrainingImages",
      `${options.shots} shots + ${calibrationShots} calibration images asked for, ${options.data}/train/good holds ${dataset.train.length}`,
      {
        path: options.data,
      },
    );
  }
  const goodInUse = dataset.train.slice(0, options.shots + calibrationShots);
  const labelled = listLabelledDefects(options.data, options.defectShots, new Set(goodInUse.map((p) => basename(p, extname(p)))));
  const { width, height } = options.preprocess;
  const embed = async (path: string): Promise<PatchEmbedding> =>
    cachedEmbedding(options.cache, path, async () => options.extractor.embed((await preprocessImage(await readFile(path), options.preprocess, LIMITS)).tensor));

  const shots: PatchEmbedding[] = [];
  for (const path of dataset.train.slice(0, options.shots)) shots.push(await embed(path));
  const dim = shots[0]?.dim ?? 0;
  const rows = shots.reduce((n, e) => n + e.patches, 0);
  const features = new Float32Array(rows * dim);
  shots.forEach((e, i) => features.set(e.data, i * e.patches * dim));
  const bank = await buildMemoryBank(features, rows, dim, patchcore, options.session);
  const scorer = await PatchCoreScorer.open(bank, patchcore, options.session);
  log(`good bank: ${bank.size} patches from ${options.shots} shots`);
  let defectSearch: DefectBankSearch | undefined;
  let headScorer: HeadScorer | undefined;
  try {
    const scoreGood = async (embedding: PatchEmbedding): Promise<Scored> => {
      const patches = await scorer.scorePatches(embedding);
      return { goodScore: patches.score, maxEvidence: 0, goodDistances: patches.grid.data, embedding };
    };
    const calibration: Scored[] = [];
    for (const path of dataset.train.slice(options.shots, options.shots + calibrationShots)) calibration.push(await scoreGood(await embed(path)));
    // A patch of a labelled defect image counts as defect only beyond every held-out good patch.
    let floor = 0;
    for (const c of calibration) for (const d of c.goodDistances) floor = Math.max(floor, d);

    const defects: Scored[] = [];
    const samples: LabelledPatches[] = [];
    const regions: RegionSample[] = [];
    for (const sample of labelled) {
      const scored = await scoreGood(await embed(sample.path));
      const pixels = await loadDefectRegion(sample, width, height);
      const region = pixels === null ? null : patchGridMask(pixels, width, height, scored.embedding.gridWidth, scored.embedding.gridHeight);
      samples.push({ embedding: scored.embedding, rows: selectDefectPatches(scored.goodDistances, region, floor, patchOptions) });
      if (region !== null) regions.push({ embedding: scored.embedding, region });
      defects.push(scored);
    }
    const defectBank = buildDefectBank(samples);
    defectSearch = await DefectBankSearch.open(defectBank, options.session);
    log(`defect bank: ${defectBank.size} patches from ${labelled.length} labelled defects`);
    const search = defectSearch;
    const maxOf = (values: Float32Array): number => values.reduce((m, v) => Math.max(m, v), 0);
    for (const c of calibration) c.maxEvidence = maxOf(defectEvidence(c.goodDistances, await search.distances(c.embedding)));
    for (const [i, d] of defects.entries()) d.maxEvidence = maxOf(defectEvidence(d.goodDistances, await search.distances(d.embedding, i)));

    const choice = chooseLambda(calibration, defects, options.lambdas ?? DEFAULT_LAMBDAS);
    const lambda = choice.lambda;
    log(`lambda ${lambda} (training AUROC ${choice.aurocs.map((a) => `${a.lambda}: ${a.auroc.toFixed(3)}`).join(", ")})`);
    const thresholds = calibrateThresholds(calibration, defects, lambda, options.sigmaK ?? DEFAULT_K);

    let head: Parameters<typeof scoreTestSet>[0]["head"];
    if ((options.classifier ?? true) && regions.length === labelled.length) {
      const full = trainRegionClassifier(shots, regions);
      const goodEvidence = await maxHeadEvidence(
        full,
        calibration.map((c) => c.embedding),
        options.session,
      );
      const good = calibration.map((c, i) => ({ goodScore: c.goodScore, maxEvidence: goodEvidence[i] as number }));
      const bad: ScoredSample[] = [];
      for (const [i, d] of defects.entries()) {
        const [maxEvidence] = await maxHeadEvidence(trainRegionClassifier(shots, regions, i), [d.embedding], options.session);
        bad.push({ goodScore: d.goodScore, maxEvidence: maxEvidence as number });
      }
      const mu = chooseLambda(good, bad, options.lambdas ?? DEFAULT_LAMBDAS);
      log(`classifier mu ${mu.lambda} (training AUROC ${mu.aurocs.map((a) => `${a.lambda}: ${a.auroc.toFixed(3)}`).join(", ")})`);
      headScorer = await openHeadScorer(full, options.session);
      const scorerOfHead = headScorer;
      head = {
        evidence: (e: PatchEmbedding) => scorerOfHead.evidence(e),
        mu: mu.lambda,
        mu_aurocs: mu.aurocs,
        threshold: f1Threshold(
          good.map((g) => defectAwareScore(g, mu.lambda)),
          bad.map((b) => defectAwareScore(b, mu.lambda)),
        ).threshold,
      };
    }
    const test = await scoreTestSet({ dataset, embed, scorer, search, lambda, thresholds, width, height, log, head });
    return {
      dataset: options.data,
      shots: options.shots,
      defect_shots: labelled.length,
      calibration_shots: calibration.length,
      test_images: dataset.test.length,
      test_defects: dataset.test.filter((s) => s.defective).length,
      bank_size: bank.size,
      defect_bank_size: defectBank.size,
      defect_regions: [...new Set(labelled.map((l) => l.region?.kind ?? "top-patches"))].join("+"),
      lambda,
      lambda_aurocs: choice.aurocs,
      ...test,
    };
  } finally {
    await scorer.release();
    await defectSearch?.release();
    await headScorer?.release();
  }
}
