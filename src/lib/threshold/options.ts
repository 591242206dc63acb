/**
 * Threshold options parsed once from editor values (strings) with every default in one place;
 * an out-of-range value is an invalidOption error naming the option, the range and the value.
 * Only the options the chosen mode uses are checked, so a stale hidden field cannot block a deploy.
 */
import { invalidOption, isMissing, numberWhere, oneOf, propertyOption } from "../config/option-values";
import { isCalibratedMode, THRESHOLD_MODES, type CalibrationParameters, type ThresholdMode } from "./types";

/**
 * anomalib exports are normalised so that their own calibrated threshold is 0.5, which makes 0.5
 * the one fixed value that means something without calibration. PatchCore and PaDiM scores are
 * raw distances: calibrate them (sigma or quantile) instead.
 */
export const DEFAULT_FIXED_THRESHOLD = 0.5;
/** Three standard deviations: about 0.1 % false rejects if good scores were normal. */
export const DEFAULT_K = 3;
/** A line tolerates about 1 % false rejects (issue 15). */
export const DEFAULT_FRR_PERCENT = 1;
export const DEFAULT_RECALL_PERCENT = 99;
export const DEFAULT_CALIBRATION_COUNT = 200;
/** Scores are kept in memory until the calibration; bounds a forgotten calibration switch. */
export const MAX_CALIBRATION_COUNT = 100_000;
const PERCENT = 100;
/** Where calibration samples carry "good" / "defect" unless the editor names another property. */
export const DEFAULT_LABEL_PROPERTY = "label";
/**
 * Where a calibrated mode's uncertain (review) band starts: "fraction", T1 = T2 (1 - band);
 * "defects", T1 = the score at or above which *Recall* % of the labelled defect samples of the
 * calibration lie (no band without defect samples, or when T2 already catches that many).
 */
export const BAND_SOURCES = ["fraction", "defects"] as const;
export type BandSource = (typeof BAND_SOURCES)[number];

export interface ThresholdOptions {
  mode: ThresholdMode;
  /** Fixed mode: NG at or above. */
  threshold: number;
  /** Fixed mode: UNCERTAIN from here up to `threshold`; undefined = no band. */
  lowThreshold: number | undefined;
  /** Sigma mode: threshold = mean + k sd of the good scores. */
  k: number;
  /** Quantile mode: target false-reject rate of good parts, percent. */
  frr: number;
  /** Recall mode: target share of defects caught, percent; band "defects": share of them at or above T1. */
  recall: number;
  /** Calibrated modes: uncertain band as a fraction of the threshold; 0 = none. */
  band: number;
  /** Calibrated modes: where the uncertain band comes from (see BAND_SOURCES). */
  bandFrom: BandSource;
  /** Fraction of the threshold an NG stream must fall below to leave NG; 0 = off. */
  hysteresis: number;
  /** Mask threshold for maps; undefined = the image threshold. */
  pixelThreshold: number | undefined;
  /** Calibration samples after which the node calibrates by itself. */
  calibrationCount: number;
  /** Calibrated modes: the message property holding a sample's "good" / "defect" label. */
  labelProperty: string;
}

function optionalNumber(option: string, value: unknown): number | undefined {
  return isMissing(value) ? undefined : numberWhere(option, value, 0, "a number", () => true);
}

const fractionBelowOne = (n: number): boolean => n >= 0 && n < 1;

export function parseThresholdOptions(input: Record<string, unknown>): ThresholdOptions {
  const mode = oneOf("mode", input["mode"], THRESHOLD_MODES, "fixed");
  const fixed = mode === "fixed";
  const threshold = fixed ? numberWhere("threshold", input["threshold"], DEFAULT_FIXED_THRESHOLD, "a number", () => true) : DEFAULT_FIXED_THRESHOLD;
  const lowThreshold = fixed ? optionalNumber("lowThreshold", input["lowThreshold"]) : undefined;
  if (lowThreshold !== undefined && lowThreshold >= threshold) {
    throw invalidOption("lowThreshold", `below the threshold ${threshold}`, input["lowThreshold"]);
  }
  const calibrated = isCalibratedMode(mode);
  const bandFrom = calibrated ? oneOf("bandFrom", input["bandFrom"], BAND_SOURCES, "fraction") : "fraction";
  return {
    mode,
    threshold,
    lowThreshold,
    k: mode === "sigma" ? numberWhere("k", input["k"], DEFAULT_K, "a number of at least 0", (n) => n >= 0) : DEFAULT_K,
    frr:
      mode === "quantile"
        ? numberWhere("frr", input["frr"], DEFAULT_FRR_PERCENT, "a percentage above 0 and below 100", (n) => n > 0 && n < PERCENT)
        : DEFAULT_FRR_PERCENT,
    recall:
      mode === "recall" || bandFrom === "defects"
        ? numberWhere("recall", input["recall"], DEFAULT_RECALL_PERCENT, "a percentage above 0 and at most 100", (n) => n > 0 && n <= PERCENT)
        : DEFAULT_RECALL_PERCENT,
    band: calibrated && bandFrom === "fraction" ? numberWhere("band", input["band"], 0, "a fraction from 0 up to (not including) 1", fractionBelowOne) : 0,
    bandFrom,
    hysteresis: numberWhere("hysteresis", input["hysteresis"], 0, "a fraction from 0 up to (not including) 1", fractionBelowOne),
    pixelThreshold: optionalNumber("pixelThreshold", input["pixelThreshold"]),
    calibrationCount: calibrated
      ? numberWhere(
          "calibrationCount",
          input["calibrationCount"],
          DEFAULT_CALIBRATION_COUNT,
          `an integer from 1 to ${MAX_CALIBRATION_COUNT}`,
          (n) => Number.isInteger(n) && n >= 1 && n <= MAX_CALIBRATION_COUNT,
        )
      : DEFAULT_CALIBRATION_COUNT,
    labelProperty: calibrated ? propertyOption("labelProperty", input["labelProperty"], DEFAULT_LABEL_PROPERTY) : DEFAULT_LABEL_PROPERTY,
  };
}

/** The options that decide a calibrated threshold; band and hysteresis apply at decision time. */
export function calibrationParameters(options: ThresholdOptions): CalibrationParameters {
  switch (options.mode) {
    case "sigma":
      return { k: options.k };
    case "quantile":
      return { frr: options.frr };
    case "recall":
      return { recall: options.recall };
    default:
      return {};
  }
}
