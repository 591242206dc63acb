/**
 * The threshold node's definition as the editor saves it, key for key the `defaults` of
 * threshold.html. Text inputs arrive as strings; parseThresholdOptions converts and checks them.
 */
import type { NodeDef } from "node-red";

export interface ThresholdNodeDef extends NodeDef {
  /** "fixed" | "sigma" | "quantile" | "f1" | "recall". */
  mode: string;
  /** Fixed mode: NG at or above this score. */
  threshold: string | number;
  /** Fixed mode: UNCERTAIN from this score up; empty = no uncertain band. */
  lowThreshold: string | number;
  /** Sigma mode: mean + k standard deviations of the good scores. */
  k: string | number;
  /** Quantile mode: target false-reject rate in percent. */
  frr: string | number;
  /** Recall mode: target recall in percent; band from defects: share of them at or above the band's start. */
  recall: string | number;
  /** Calibrated modes: where the uncertain band starts, "fraction" (of the threshold) or "defects" (labelled defects; empty = "fraction"). */
  bandFrom: string;
  /** Calibrated modes: uncertain band as a fraction of the threshold (0 = none). */
  band: string | number;
  /** Fraction of the threshold an NG stream must fall below to return to OK (0 = off). */
  hysteresis: string | number;
  /** Mask threshold for anomaly maps; empty = the image threshold. */
  pixelThreshold: string | number;
  /** Calibration samples after which the node calibrates by itself. */
  calibrationCount: string | number;
  /** The message property holding a calibration sample's label; empty = "label". */
  labelProperty: string;
}
