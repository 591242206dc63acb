/** Names shared by the threshold core: modes, sample labels and verdicts. */

export const THRESHOLD_MODES = ["fixed", "sigma", "quantile", "f1", "recall"] as const;
export type ThresholdMode = (typeof THRESHOLD_MODES)[number];

/** Modes whose threshold comes from calibration samples rather than from the editor. */
export const CALIBRATED_MODES = ["sigma", "quantile", "f1", "recall"] as const;
export type CalibratedMode = (typeof CALIBRATED_MODES)[number];

export function isCalibratedMode(mode: ThresholdMode): mode is CalibratedMode {
  return mode !== "fixed";
}

export const SAMPLE_LABELS = ["good", "defect"] as const;
export type SampleLabel = (typeof SAMPLE_LABELS)[number];

export type Verdict = "OK" | "NG" | "UNCERTAIN";

/** The image thresholds in effect: NG at or above `threshold`, UNCERTAIN from `lowThreshold`. */
export interface Thresholds {
  threshold: number;
  /** Only with an uncertain band; always below `threshold`. */
  lowThreshold?: number;
}

/** What decides the calibrated threshold: a saved calibration made with other values is not used. */
export type CalibrationParameters = Record<string, number>;
