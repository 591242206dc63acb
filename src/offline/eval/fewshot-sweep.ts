/**
 * Few-shot sweep (issue 6): test features are extracted once per dataset + backbone, the first
 * K good images (and their augmented variants) once; then a bank is fitted for every setting and
 * K on those cached features and scored on the same test set, so settings differ only in what
 * they change. Fits and scores are the detector's own (shot-bank.ts, detector/online/online-model.ts's
 * scoreEmbedding); only the features are reused. One bank is held at a time (the test features
 * are re-read per bank).
 */
import { basename } from "node:path";
import { openPatchExtractor } from "../../lib/features/extractor";
import { parsePreprocessOptions } from "../../lib/image";
import { aurocSplit, auroc, f1Max, statsAtThreshold } from "../../lib/metrics";
import { DEFAULT_PATCHCORE_OPTIONS, type ImageScoreRule, type PatchCoreOptions } from "../../lib/anomaly/patchcore/patchcore";
import { OnlineBank } from "../../lib/detector/online/online-bank";
import { FEW_SHOT_PRESET } from "../../lib/detector/setting-presets";
import { scoreEmbedding } from "../../lib/detector/online/online-model";
import type { AugmentChoice } from "../../lib/detector/fit/support-set";
import type { SessionOptions } from "../../lib/onnx";
import { shotFeatures, standardizedShots, testFeatures } from "./fewshot-features";
import { standardizeEmbedding } from "../../lib/features/instance-norm";
import { loadMask, readMvtecDataset } from "./mvtec-dataset";
import { fitShotBank } from "./shot-bank";
import { calibratedThreshold, f1AtThreshold } from "./shot-calibration";

export interface FewShotSetting {
  label: string;
  /** Null = no augmentation; else the detector's choice (mode "on" with maxShots >= the largest K augments every shot). */
  augment: AugmentChoice | null;
  coresetRatio: number;
  /** Per-image feature standardisation of shots, variants and test images (features/instance-norm.ts). */
  standardize?: boolean;
  /** Image score rule (PatchCoreOptions.imageScore); default the paper's re-weighted maximum. */
  imageScore?: ImageScoreRule;
  /** Search subspace dimensions (PatchCoreOptions.scoringDim); default the few-shot setting's (exact search). */
  scoringDim?: number;
}

export interface FewShotRow {
  setting: string;
  shots: number;
  bank_size: number;
  image_auroc: number;
  pixel_auroc: number | null;
  f1_max: number;
  /** F1 on the test set at the leave-one-out 3-sigma threshold (null below 2 shots). */
  f1_calibrated: number | null;
  threshold: number | null;
  /** At that threshold: defects found and good parts rejected (test set). */
  recall_calibrated: number | null;
  false_reject_calibrated: number | null;
  fit_seconds: number;
}

export interface FewShotReport {
  dataset: string;
  backbone: string;
  test_images: number;
  rows: FewShotRow[];
}

export interface FewShotSweepOptions {
  data: string;
  backbone: string;
  layers: string[];
  size: number;
  shots: number[];
  settings: FewShotSetting[];
  threads?: number;
  cacheDir?: string;
  /** Score only every n-th test image (1 = all): for quick exploration, never for reported figures. */
  testStride?: number;
  numNeighbors?: number;
  /**
   * Seed of the random variants and of the coreset (its projection and start); default 0, the
   * package's. Other seeds show how much of a figure is the luck of one draw.
   */
  seed?: number;
  progress?: (line: string) => void;
}

export async function runFewShotSweep(options: FewShotSweepOptions): Promise<FewShotReport> {
  const log = options.progress ?? (() => undefined);
  const session: SessionOptions = options.threads === undefined ? {} : { intraOpThreads: options.threads };
  const dataset = readMvtecDataset(options.data);
  const preprocess = parsePreprocessOptions({ preset: "imagenet", width: options.size, height: options.size, resize: "stretch" });
  const extractor = await openPatchExtractor({ model: options.backbone, layers: options.layers }, session);
  const maxShots = Math.max(...options.shots);
  const stride = options.testStride ?? 1;
  try {
    const test = await testFeatures(dataset, extractor, preprocess, `${basename(options.backbone)}:${options.layers.join(",")}`, options.cacheDir, log);
    const picked = dataset.test.map((_, i) => i).filter((i) => i % stride === 0);
    const labels = picked.map((i) => (dataset.test[i]?.defective ? 1 : 0));
    const masks = dataset.hasMasks
      ? await Promise.all(picked.map((i) => loadMask(dataset.test[i] as (typeof dataset.test)[number], options.size, options.size)))
      : [];
    const positives = masks.reduce((n, m) => n + m.reduce((a, v) => a + v, 0), 0);
    // Variants depend on the augmentation settings; the originals are shared by every setting.
    const featureSets = new Map<string, Awaited<ReturnType<typeof shotFeatures>>>();
    const rows: FewShotRow[] = [];
    const seed = options.seed ?? DEFAULT_PATCHCORE_OPTIONS.seed;
    for (const setting of options.settings) {
      const key = JSON.stringify(setting.augment);
      let set = featureSets.get(key);
      if (set === undefined) {
        set = await shotFeatures(dataset, maxShots, extractor, preprocess, setting.augment, seed);
        featureSets.set(key, set);
        log(`${setting.label}: ${set.shots.length} shots x ${1 + (set.shots[0]?.variants.length ?? 0)} images embedded`);
      }
      const grid = set.grid;
      const standardize = setting.standardize === true;
      const shotSet = standardize ? standardizedShots(set.shots, grid.patches, set.dim) : set.shots;
      for (const k of options.shots) {
        const patchcore: PatchCoreOptions = {
          ...DEFAULT_PATCHCORE_OPTIONS,
          coresetRatio: setting.coresetRatio,
          numNeighbors: options.numNeighbors ?? DEFAULT_PATCHCORE_OPTIONS.numNeighbors,
          imageScore: setting.imageScore ?? DEFAULT_PATCHCORE_OPTIONS.imageScore,
          scoringDim: setting.scoringDim ?? FEW_SHOT_PRESET.scoringDim,
          seed,
        };
        const fitStart = performance.now();
        const shots = shotSet.slice(0, k);
        const mapSize = { width: options.size, height: options.size };
        const fit = await fitShotBank(shots, setting.augment !== null, grid, set.dim, mapSize, patchcore, session);
        const calibration = { threshold: calibratedThreshold(fit.leaveOneOut ?? []) };
        const fitSeconds = (performance.now() - fitStart) / 1000;
        const bank = await OnlineBank.fitted(fit.bank, patchcore, session);
        const scores: number[] = [];
        const pos = new Float32Array(positives);
        const neg = new Float32Array(masks.length * options.size * options.size - positives);
        let np = 0;
        let nn = 0;
        try {
          for (const [j, i] of picked.entries()) {
            const embedding = standardize ? standardizeEmbedding(test.get(i)) : test.get(i);
            const { inspection } = await scoreEmbedding(bank, embedding, options.size, options.size);
            scores.push(inspection.score);
            const mask = masks[j];
            if (mask === undefined || inspection.map === null) continue;
            const map = inspection.map.data;
            for (let p = 0; p < mask.length; p++) {
              if ((mask[p] as number) !== 0) pos[np++] = map[p] as number;
              else neg[nn++] = map[p] as number;
            }
          }
        } finally {
          await bank.release();
        }
        const at = calibration.threshold === null ? null : statsAtThreshold(scores, labels, calibration.threshold);
        const row: FewShotRow = {
          setting: setting.label,
          shots: k,
          bank_size: fit.bank.size,
          image_auroc: auroc(scores, labels),
          pixel_auroc: positives > 0 ? aurocSplit(pos, neg) : null,
          f1_max: f1Max(scores, labels).f1,
          f1_calibrated: calibration.threshold === null ? null : f1AtThreshold(scores, labels, calibration.threshold),
          threshold: calibration.threshold,
          recall_calibrated: at === null ? null : at.recall,
          false_reject_calibrated: at === null ? null : at.fpr,
          fit_seconds: fitSeconds,
        };
        rows.push(row);
        log(
          `${setting.label} K=${k}: bank ${row.bank_size}, image AUROC ${row.image_auroc.toFixed(3)}, pixel ${row.pixel_auroc?.toFixed(3) ?? "-"}, F1 cal ${row.f1_calibrated?.toFixed(3) ?? "-"} (recall ${row.recall_calibrated?.toFixed(2) ?? "-"}, FRR ${row.false_reject_calibrated?.toFixed(2) ?? "-"}), F1-max ${row.f1_max.toFixed(3)}`,
        );
      }
    }
    test.close();
    return { dataset: options.data, backbone: options.backbone, test_images: picked.length, rows };
  } finally {
    await extractor.release();
  }
}

function cell(value: number | null): string {
  return value === null ? "-" : value.toFixed(3);
}

/** One markdown table: a row per setting and K. */
export function fewShotTable(report: FewShotReport): string {
  const pixel = report.rows.some((r) => r.pixel_auroc !== null);
  const head = ["setting", "K", "bank", "image AUROC", ...(pixel ? ["pixel AUROC"] : []), "F1 calibrated", "F1-max"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of report.rows) {
    const cells = [
      r.setting,
      String(r.shots),
      String(r.bank_size),
      cell(r.image_auroc),
      ...(pixel ? [cell(r.pixel_auroc)] : []),
      cell(r.f1_calibrated),
      cell(r.f1_max),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return `${lines.join("\n")}\n`;
}
