/**
 * Threshold options parsed once from editor values (strings) with every default in one place;
 * an out-of-range value is an invalidOption error naming the option, the range and the value.
 * Only the options the chosen mode uses are checked, so a stale hidden field cannot block a deploy.
 */
import { DefectError } from "../errors";
import { isCalibratedMode, THRESHOLD_MODES, type CalibrationParameters, type ThresholdMode } from "./types";

/**
 * anomalib exports are normalised so that their own calibrated threshold is 0.5, which makes 0.5
 * the one fixed value that means something without calibration. PatchCore and PaDiM scores are
 * raw distances: calibrate them (sigma or quantile) instead.
 */
export const DEFAULT_FIXED_THRESHOLD = 0.5;
/** Three standard deviations: about 0.1 % false rejects if good scores were normal. */
export const DEFAULT_K = 3;
export const DEFAULT_FRR_PERCENT = 0.5;
export const DEFAULT_RECALL_PERCENT = 99;
export const DEFAULT_CALIBRATION_COUNT = 200;
/** Scores are kept in memory until the calibration; bounds a forgotten calibration switch. */
export const MAX_CALIBRATION_COUNT = 100_000;
const PERCENT = 100;

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
  /** Recall mode: target share of defects caught, percent. */
  recall: number;
  /** Calibrated modes: uncertain band as a fraction of the threshold; 0 = none. */
  band: number;
  /** Fraction of the threshold an NG stream must fall below to leave NG; 0 = off. */
  hysteresis: number;
  /** Mask threshold for maps; undefined = the image threshold. */
  pixelThreshold: number | undefined;
  /** Calibration samples after which the node calibrates by itself. */
  calibrationCount: number;
}

function text(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

function invalid(option: string, expected: string, value: unknown): DefectError {
  const shown = text(value);
  return new DefectError("invalidOption", `Option ${option} must be ${expected}, got "${shown}"`, { option, value: shown });
}

/** A number passing `ok`, or `fallback` when empty. */
function numberIn(option: string, value: unknown, fallback: number, expected: string, ok: (n: number) => boolean): number {
  const raw = text(value);
  if (raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !ok(n)) throw invalid(option, expected, value);
  return n;
}

function optionalNumber(option: string, value: unknown): number | undefined {
  return text(value) === "" ? undefined : numberIn(option, value, 0, "a number", () => true);
}

const fractionBelowOne = (n: number): boolean => n >= 0 && n < 1;

function parseMode(value: unknown): ThresholdMode {
  const raw = text(value);
  if (raw === "") return "fixed";
  const mode = THRESHOLD_MODES.find((m) => m === raw);
  if (mode === undefined) throw invalid("mode", `one of ${THRESHOLD_MODES.join(", ")}`, value);
  return mode;
}

export function parseThresholdOptions(input: Record<string, unknown>): ThresholdOptions {
  const mode = parseMode(input["mode"]);
  const fixed = mode === "fixed";
  const threshold = fixed ? numberIn("threshold", input["threshold"], DEFAULT_FIXED_THRESHOLD, "a number", () => true) : DEFAULT_FIXED_THRESHOLD;
  const lowThreshold = fixed ? optionalNumber("lowThreshold", input["lowThreshold"]) : undefined;
  if (lowThreshold !== undefined && lowThreshold >= threshold) {
    throw invalid("lowThreshold", `below the threshold ${threshold}`, input["lowThreshold"]);
  }
  const calibrated = isCalibratedMode(mode);
  return {
    mode,
    threshold,
    lowThreshold,
    k: mode === "sigma" ? numberIn("k", input["k"], DEFAULT_K, "a number of at least 0", (n) => n >= 0) : DEFAULT_K,
    frr: mode === "quantile"
      ? numberIn("frr", input["frr"], DEFAULT_FRR_PERCENT, "a percentage above 0 and below 100", (n) => n > 0 && n < PERCENT)
      : DEFAULT_FRR_PERCENT,
    recall: mode === "recall"
      ? numberIn("recall", input["recall"], DEFAULT_RECALL_PERCENT, "a percentage above 0 and at most 100", (n) => n > 0 && n <= PERCENT)
      : DEFAULT_RECALL_PERCENT,
    band: calibrated ? numberIn("band", input["band"], 0, "a fraction from 0 up to (not including) 1", fractionBelowOne) : 0,
    hysteresis: numberIn("hysteresis", input["hysteresis"], 0, "a fraction from 0 up to (not including) 1", fractionBelowOne),
    pixelThreshold: optionalNumber("pixelThreshold", input["pixelThreshold"]),
    calibrationCount: calibrated
      ? numberIn("calibrationCount", input["calibrationCount"], DEFAULT_CALIBRATION_COUNT, `an integer from 1 to ${MAX_CALIBRATION_COUNT}`,
        (n) => Number.isInteger(n) && n >= 1 && n <= MAX_CALIBRATION_COUNT)
      : DEFAULT_CALIBRATION_COUNT,
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
