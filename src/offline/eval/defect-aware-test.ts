/**
 * The test-set pass of the defect-aware evaluation: every test image scored once, good-only and
 * defect-aware from the same patch distances, then each operating point's F1 at its threshold.
 */
import type { PatchEmbedding } from "../../lib/features/types";
import { auroc, aurocSplit, f1Max, statsAtThreshold } from "../../lib/metrics";
import type { PatchCoreScorer } from "../../lib/anomaly/patchcore/patchcore";
import { defectAwareImageScore, defectAwarePatchScores, defectEvidence, type DefectBankSearch } from "../../lib/anomaly/patchcore/defect-bank";
import { loadMask, type MvtecDataset } from "./mvtec-dataset";

export interface OperatingPoint {
  image_auroc: number;
  /** Over all test pixels where the dataset has masks; null otherwise. */
  pixel_auroc: number | null;
  /** How the threshold was calibrated, in words. */
  calibration: string;
  threshold: number;
  f1_calibrated: number;
  precision: number;
  recall: number;
  /** Good test parts rejected at the threshold. */
  false_reject_rate: number;
  /** Best F1 over all thresholds on the test set: the ceiling a calibration can reach. */
  f1_max: number;
}

export interface TestScoring {
  dataset: MvtecDataset;
  embed(path: string): Promise<PatchEmbedding>;
  scorer: PatchCoreScorer;
  search: DefectBankSearch;
  lambda: number;
  thresholds: { goodOnly: number; goodOnlyLabelled: number; defectAware: number };
  width: number;
  height: number;
  log: (line: string) => void;
  /** The logistic patch head: its evidence per patch, weight mu and calibrated threshold. */
  head?: { evidence(embedding: PatchEmbedding): Promise<Float32Array>; mu: number; mu_aurocs: Array<{ lambda: number; auroc: number }>; threshold: number };
}

const PROGRESS_EVERY = 50;

/** Pixel scores split by mask, gathered image by image so only one full map lives at a time. */
class PixelSplit {
  private readonly positive: number[] = [];
  private negative = new Float32Array(0);
  private negatives = 0;

  add(map: Float32Array, mask: Uint8Array): void {
    if (this.negative.length < this.negatives + map.length) {
      const grown = new Float32Array(Math.max(2 * this.negative.length, this.negatives + map.length));
      grown.set(this.negative.subarray(0, this.negatives));
      this.negative = grown;
    }
    for (let i = 0; i < map.length; i++) {
      if ((mask[i] as number) !== 0) this.positive.push(map[i] as number);
      else this.negative[this.negatives++] = map[i] as number;
    }
  }

  auroc(): number | null {
    return this.positive.length === 0 ? null : aurocSplit(Float32Array.from(this.positive), this.negative.subarray(0, this.negatives));
  }
}

function operatingPoint(scores: number[], labels: number[], threshold: number, calibration: string, pixel: number | null): OperatingPoint {
  const at = statsAtThreshold(scores, labels, threshold);
  return {
    image_auroc: auroc(scores, labels),
    pixel_auroc: pixel,
    calibration,
    threshold,
    f1_calibrated: (2 * at.tp) / (2 * at.tp + at.fp + at.fn),
    precision: Number.isNaN(at.precision) ? 0 : at.precision,
    recall: at.recall,
    false_reject_rate: at.fpr,
    f1_max: f1Max(scores, labels).f1,
  };
}

export async function scoreTestSet(t: TestScoring): Promise<{
  good_only: OperatingPoint;
  good_only_labelled: OperatingPoint;
  defect_aware: OperatingPoint;
  classifier?: OperatingPoint & { mu: number; mu_aurocs: Array<{ lambda: number; auroc: number }> };
}> {
  const headScores: number[] = [];
  const pixelsHead = new PixelSplit();
  const good: number[] = [];
  const aware: number[] = [];
  const labels: number[] = [];
  const pixelsGood = new PixelSplit();
  const pixelsAware = new PixelSplit();
  for (const sample of t.dataset.test) {
    const embedding = await t.embed(sample.path);
    const patches = await t.scorer.scorePatches(embedding);
    const evidence = defectEvidence(patches.grid.data, await t.search.distances(embedding));
    good.push(patches.score);
    aware.push(defectAwareImageScore(patches.score, evidence, t.lambda));
    labels.push(sample.defective ? 1 : 0);
    const headEvidence = t.head === undefined ? undefined : await t.head.evidence(embedding);
    if (t.head !== undefined && headEvidence !== undefined) headScores.push(defectAwareImageScore(patches.score, headEvidence, t.head.mu));
    if (t.dataset.hasMasks) {
      const mask = await loadMask(sample, t.width, t.height);
      pixelsGood.add(t.scorer.anomalyMap(patches.grid, t.width, t.height).data, mask);
      const awareGrid = { ...patches.grid, data: defectAwarePatchScores(patches.grid.data, evidence, t.lambda) };
      pixelsAware.add(t.scorer.anomalyMap(awareGrid, t.width, t.height).data, mask);
      if (t.head !== undefined && headEvidence !== undefined) {
        const headGrid = { ...patches.grid, data: defectAwarePatchScores(patches.grid.data, headEvidence, t.head.mu) };
        pixelsHead.add(t.scorer.anomalyMap(headGrid, t.width, t.height).data, mask);
      }
    }
    if (labels.length % PROGRESS_EVERY === 0) t.log(`tested ${labels.length}/${t.dataset.test.length}`);
  }
  const pixelGood = pixelsGood.auroc();
  return {
    good_only: operatingPoint(good, labels, t.thresholds.goodOnly, "mean + k sd of held-out good scores", pixelGood),
    good_only_labelled: operatingPoint(good, labels, t.thresholds.goodOnlyLabelled, "F1-optimal on held-out good + labelled defects", pixelGood),
    defect_aware: operatingPoint(
      aware,
      labels,
      t.thresholds.defectAware,
      "F1-optimal on held-out good + labelled defects (leave-one-out)",
      pixelsAware.auroc(),
    ),
    ...(t.head === undefined
      ? {}
      : {
          classifier: {
            ...operatingPoint(headScores, labels, t.head.threshold, "F1-optimal on held-out good + labelled defects (leave-one-out)", pixelsHead.auroc()),
            mu: t.head.mu,
            mu_aurocs: t.head.mu_aurocs,
          },
        }),
  };
}
