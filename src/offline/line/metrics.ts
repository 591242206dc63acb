/**
 * The line's figures from what came out of it: ranking metrics over the detector's scores and
 * maps (as `eval` computes them), the threshold node's verdicts, and mask to region's boxes
 * against the ground-truth masks.
 */
import type { Rect } from "../../lib/image/types";
import { aupro, auroc, f1Max, pixelAuroc, recallAtFrr, type MapWithMask } from "../../lib/metrics";
import { labelMask } from "../../lib/regions/components";
import { loadMask, type TestSample } from "../eval/mvtec-dataset";
import type { Inspected } from "./read";
import { figuresByDefectType, type DefectTypeFigures } from "../eval/by-defect-type";

export interface AccuracyFigures {
  image_auroc: number;
  pixel_auroc: number | null;
  aupro: number | null;
  f1_max: number;
  /** Share of defective parts caught at a 1 % (5 %) false-reject rate of the good test parts: the ceiling of any threshold. */
  recall_at_frr_1: number | null;
  recall_at_frr_5: number | null;
  /** Share of defective parts the threshold node called NG, at the threshold it set from training images alone. */
  calibrated_recall: number | null;
  /** Share of good parts it called NG. */
  calibrated_frr: number | null;
  /** Ground-truth defects (connected components of the masks) that some region's box overlaps. */
  defect_recall: number | null;
  /** Regions whose box overlaps no ground-truth pixel, per image with ground truth. */
  false_regions_per_image: number | null;
  ground_truth_defects: number | null;
  /** The recall figures for each defect type (test folder) alone, against all good test parts. */
  by_defect_type: Record<string, DefectTypeFigures>;
}

/** Nearest-rank percentile of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function share(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

/** Pixel index range [from, to) a continuous box covers on a grid of `limit` pixels. */
function span(start: number, length: number, limit: number): [number, number] {
  return [Math.max(0, Math.floor(start)), Math.min(limit, Math.ceil(start + length))];
}

/** For one image: which ground-truth components some box overlaps, and how many boxes overlap none. */
export function scoreRegions(
  mask: Uint8Array,
  width: number,
  height: number,
  boxes: readonly Rect[],
): { components: number; found: number; falseRegions: number } {
  const { labels, count } = labelMask(mask, width, height);
  const found = new Uint8Array(count + 1);
  let falseRegions = 0;
  for (const box of boxes) {
    const [x0, x1] = span(box.x, box.width, width);
    const [y0, y1] = span(box.y, box.height, height);
    let touches = false;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const label = labels[y * width + x] as number;
        if (label !== 0) {
          found[label] = 1;
          touches = true;
        }
      }
    }
    if (!touches) falseRegions++;
  }
  let hits = 0;
  for (let c = 1; c <= count; c++) hits += found[c] as number;
  return { components: count, found: hits, falseRegions };
}

async function pixelFigures(
  samples: readonly TestSample[],
  records: readonly Inspected[],
  size: number,
): Promise<{ pixel: number | null; pro: number | null }> {
  const maps: MapWithMask[] = [];
  let positives = 0;
  for (const [i, sample] of samples.entries()) {
    const map = records[i]?.map;
    if (map === null || map === undefined) return { pixel: null, pro: null };
    const mask = await loadMask(sample, size, size);
    for (const v of mask) positives += v;
    maps.push({ map, mask, width: size, height: size });
  }
  if (positives === 0) return { pixel: null, pro: null };
  return { pixel: pixelAuroc(maps, positives), pro: aupro(maps) };
}

async function regionFigures(
  samples: readonly TestSample[],
  records: readonly Inspected[],
): Promise<{ recall: number | null; falsePerImage: number | null; defects: number | null }> {
  let components = 0;
  let found = 0;
  let falseRegions = 0;
  let images = 0;
  for (const [i, sample] of samples.entries()) {
    const record = records[i] as Inspected;
    // A defective image without a mask says nothing about where its regions should be.
    if (sample.defective && sample.maskPath === null) continue;
    if (record.width === 0 || record.height === 0) continue;
    const mask = await loadMask(sample, record.width, record.height);
    const scored = scoreRegions(mask, record.width, record.height, record.regions);
    components += scored.components;
    found += scored.found;
    falseRegions += scored.falseRegions;
    images++;
  }
  return { recall: share(found, components), falsePerImage: share(falseRegions, images), defects: components };
}

/** `records[i]` is what came out of the line for `samples[i]`; `hasMasks` as the dataset says. */
export async function accuracyFigures(
  samples: readonly TestSample[],
  records: readonly Inspected[],
  size: number,
  hasMasks: boolean,
): Promise<AccuracyFigures> {
  const scores = records.map((r) => r.score);
  const labels = samples.map((s) => (s.defective ? 1 : 0));
  const ng = (wanted: boolean): number => records.filter((r, i) => samples[i]?.defective === wanted && r.verdict === "NG").length;
  const defective = labels.filter((l) => l === 1).length;
  const pixels = hasMasks ? await pixelFigures(samples, records, size) : { pixel: null, pro: null };
  const regions = hasMasks ? await regionFigures(samples, records) : { recall: null, falsePerImage: null, defects: null };
  return {
    image_auroc: auroc(scores, labels),
    pixel_auroc: pixels.pixel,
    aupro: pixels.pro,
    f1_max: f1Max(scores, labels).f1,
    recall_at_frr_1: finiteOrNull(recallAtFrr(scores, labels, 0.01)),
    recall_at_frr_5: finiteOrNull(recallAtFrr(scores, labels, 0.05)),
    calibrated_recall: share(ng(true), defective),
    calibrated_frr: share(ng(false), samples.length - defective),
    defect_recall: regions.recall,
    false_regions_per_image: regions.falsePerImage,
    ground_truth_defects: regions.defects,
    by_defect_type: figuresByDefectType(
      samples,
      scores,
      records.map((r) => r.verdict),
    ),
  };
}
