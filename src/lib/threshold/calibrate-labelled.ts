/**
 * Thresholds calibrated from labelled scores (good and defect). A part is NG when its score is at
 * or above the threshold.
 *
 * Where a threshold is placed: every threshold between two adjacent distinct scores gives the
 * same result on the samples, so the choice inside that gap only matters for parts not yet seen.
 * The midpoint of the gap is used: it keeps the largest margin to both neighbouring samples (the
 * score itself would put the boundary right on a sample, so a part scoring a hair below that
 * defect would pass). Only below the lowest score, where there is no lower neighbour, is the score
 * itself used. Tied scores always fall on the same side, whatever their labels.
 */
import { DefectError } from "../errors";

const PERCENT = 100;
/** Guards ceil() against products like 0.29 * 100 = 28.999999999999996. */
const COUNT_EPSILON = 1e-9;

interface Labelled {
  score: number;
  defect: boolean;
}

/** Distinct scores ascending, with how many good and defect samples have each. */
interface Level {
  score: number;
  good: number;
  defect: number;
}

function levels(good: readonly number[], defect: readonly number[]): Level[] {
  const all: Labelled[] = [...good.map((score) => ({ score, defect: false })), ...defect.map((score) => ({ score, defect: true }))];
  all.sort((a, b) => a.score - b.score);
  const out: Level[] = [];
  for (const sample of all) {
    let last = out[out.length - 1];
    if (last === undefined || last.score !== sample.score) {
      last = { score: sample.score, good: 0, defect: 0 };
      out.push(last);
    }
    if (sample.defect) last.defect++;
    else last.good++;
  }
  return out;
}

/** The threshold that flags level i and everything above it as NG (see the file comment). */
function thresholdAt(list: readonly Level[], i: number): number {
  const here = (list[i] as Level).score;
  if (i === 0) return here;
  const below = (list[i - 1] as Level).score;
  return below + (here - below) / 2;
}

export interface F1Choice {
  threshold: number;
  f1: number;
  precision: number;
  recall: number;
}

function requireBoth(good: readonly number[], defect: readonly number[], what: string): void {
  if (good.length === 0 || defect.length === 0) {
    throw new DefectError("calibrationFailed", `${what} needs good and defect samples, got ${good.length} good and ${defect.length} defect`, {
      good: good.length,
      defect: defect.length,
    });
  }
}

/**
 * The threshold with the highest F1 (2 TP / (2 TP + FP + FN), defects positive) on the samples.
 * Counts are compared as exact integer ratios; among thresholds with equal F1 the lowest wins,
 * because on a production line a missed defect costs more than a part sent to re-inspection.
 */
export function f1Threshold(good: readonly number[], defect: readonly number[]): F1Choice {
  requireBoth(good, defect, "F1 calibration");
  const list = levels(good, defect);
  const positives = defect.length;
  // Threshold at level 0: everything is NG.
  let tp = positives;
  let fp = good.length;
  let best = { index: 0, tp, fp };
  for (let i = 1; i < list.length; i++) {
    const leaving = list[i - 1] as Level;
    tp -= leaving.defect;
    fp -= leaving.good;
    // F1_i > F1_best  <=>  tp_i / (2 tp_i + fp_i + fn_i) > tp_b / (2 tp_b + fp_b + fn_b), with fn = P - tp.
    const denominator = tp + fp + positives;
    const bestDenominator = best.tp + best.fp + positives;
    if (tp * bestDenominator > best.tp * denominator) best = { index: i, tp, fp };
  }
  const fn = positives - best.tp;
  return {
    threshold: thresholdAt(list, best.index),
    f1: (2 * best.tp) / (2 * best.tp + best.fp + fn),
    precision: best.tp + best.fp === 0 ? 0 : best.tp / (best.tp + best.fp),
    recall: best.tp / positives,
  };
}

export interface RecallChoice {
  threshold: number;
  /** Recall on the samples at the threshold; at least the target. */
  recall: number;
}

/**
 * The threshold that reaches `recallPercent` % of the defect samples with the fewest false
 * rejects: lowering a threshold from above, the first one reaching the target. It sits in the gap
 * below the k-th highest defect score (k = ceil(recall P)), whose lower neighbour may be a good
 * or a defect score. Good samples are optional; they only place the gap.
 */
export function recallThreshold(good: readonly number[], defect: readonly number[], recallPercent: number): RecallChoice {
  if (defect.length === 0) {
    throw new DefectError("calibrationFailed", `recall calibration needs defect samples, got ${good.length} good and 0 defect`, {
      good: good.length,
      defect: 0,
    });
  }
  const needed = Math.max(1, Math.ceil((recallPercent / PERCENT) * defect.length - COUNT_EPSILON));
  const byScore = [...defect].sort((a, b) => b - a);
  const kth = byScore[needed - 1] as number;
  const list = levels(good, defect);
  const index = list.findIndex((level) => level.score === kth);
  const threshold = thresholdAt(list, index);
  const caught = defect.filter((score) => score >= threshold).length;
  return { threshold, recall: caught / defect.length };
}
