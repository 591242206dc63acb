/** From collected samples to a calibration record, for any calibrated mode. */
import { DefectError } from "../errors";
import { conformalThreshold, nextAbove, sigmaThreshold, type FrrPromise } from "./calibrate-good";
import { f1Threshold, recallThreshold } from "./calibrate-labelled";
import { labelledReport } from "./calibrate-review";
import type { HandedCalibration } from "../message/calibration";
import { calibrationParameters, type ThresholdOptions } from "./options";
import { CALIBRATION_FORMAT, CALIBRATION_VERSION, type CalibrationRecord, type CalibrationStats } from "./record";
import { summarize } from "./statistics";
import type { CalibratedMode } from "./types";
import { bandThresholds } from "./verdict";

export interface CalibrationSamples {
  good: readonly number[];
  defect: readonly number[];
  /** The good scores a detector handed over, when `good` holds them (kept in the record for later calibrations). */
  handover?: HandedCalibration;
}

/** Sample counts below which a mode has nothing to compute (sigma needs two for a spread). */
const NEEDS: Record<CalibratedMode, { good: number; defect: number }> = {
  sigma: { good: 2, defect: 0 },
  quantile: { good: 1, defect: 0 },
  f1: { good: 1, defect: 1 },
  recall: { good: 0, defect: 1 },
};

function atLeast(count: number, label: string): string {
  return `at least ${count} ${label} sample${count === 1 ? "" : "s"}`;
}

function requireSamples(mode: CalibratedMode, samples: CalibrationSamples): void {
  const need = NEEDS[mode];
  const good = samples.good.length;
  const defect = samples.defect.length;
  if (good === 0 && defect === 0) {
    throw new DefectError("calibrationFailed", "no calibration samples yet: send scores with msg.calibrate = true", { mode, good, defect });
  }
  const missing: string[] = [];
  if (good < need.good) missing.push(atLeast(need.good, "good"));
  if (defect < need.defect) missing.push(atLeast(need.defect, "defect"));
  if (missing.length > 0) {
    throw new DefectError(
      "calibrationFailed",
      `mode ${mode} needs ${missing.join(" and ")}, got ${good} good and ${defect} defect` +
        (defect < need.defect ? " (label samples with msg.label, or name them in an MVTec test/<defect> folder)" : ""),
      { mode, good, defect },
    );
  }
}

function computeThreshold(mode: CalibratedMode, options: ThresholdOptions, samples: CalibrationSamples): { threshold: number; promise?: FrrPromise } {
  switch (mode) {
    case "sigma":
      return { threshold: aboveTiedGood(sigmaThreshold(samples.good, options.k), samples.good) };
    case "quantile":
      return conformalThreshold(samples.good, options.frr);
    case "f1":
      return { threshold: f1Threshold(samples.good, samples.defect).threshold };
    case "recall":
      return { threshold: recallThreshold(samples.good, samples.defect, options.recall).threshold };
  }
}

/**
 * Good-only thresholds when every good sample scored the same (sd 0, or a quantile between equal
 * scores): mean + k sd is then that score, and "at or above is NG" would reject every good part
 * the threshold was calibrated on. It goes just above the score instead. This happens for real:
 * a template detector scores the references it learned exactly 0, and scores clipped at 0 tie.
 */
function aboveTiedGood(threshold: number, good: readonly number[]): number {
  const first = good[0];
  if (first === undefined || !good.every((s) => s === first) || threshold > first) return threshold;
  return nextAbove(first);
}

function statsAt(threshold: number, lowThreshold: number | undefined, samples: CalibrationSamples): CalibrationStats {
  const falseRejects = samples.good.filter((s) => s >= threshold).length;
  const found = samples.defect.filter((s) => s >= threshold).length;
  const missed = samples.defect.length - found;
  const stats: CalibrationStats = { falseRejects, missed };
  if (lowThreshold !== undefined) {
    const inBand = (s: number): boolean => s >= lowThreshold && s < threshold;
    stats.review = { good: samples.good.filter(inBand).length, defect: samples.defect.filter(inBand).length };
  }
  if (samples.good.length > 0) stats.good = summarize(samples.good);
  if (samples.defect.length > 0) {
    stats.defect = summarize(samples.defect);
    stats.f1 = (2 * found) / (2 * found + falseRejects + missed);
  }
  return stats;
}

/**
 * Throws calibrationFailed naming what is missing when the samples cannot calibrate `mode` (for
 * quantile: fewer good scores than its false-reject rate needs, and how many it needs).
 */
export function computeCalibration(mode: CalibratedMode, options: ThresholdOptions, samples: CalibrationSamples, created: Date): CalibrationRecord {
  requireSamples(mode, samples);
  const { threshold, promise } = computeThreshold(mode, options, samples);
  const defectScores = [...samples.defect];
  const band = bandThresholds(threshold, options, defectScores);
  const labelled = labelledReport(samples.good, samples.defect, threshold, options.recall);
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    mode,
    parameters: calibrationParameters(options),
    ...band,
    samples: { good: samples.good.length, defect: samples.defect.length },
    stats: statsAt(threshold, band.lowThreshold, samples),
    ...(promise === undefined ? {} : { promise }),
    ...(samples.handover === undefined ? {} : { handover: { kind: samples.handover.kind, scores: [...samples.handover.scores] } }),
    ...(defectScores.length === 0 ? {} : { defectScores }),
    ...(labelled === undefined ? {} : { labelled }),
    created: created.toISOString(),
  };
}
