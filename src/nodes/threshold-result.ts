/** What a threshold node's result record says of the threshold. Kept apart from threshold.ts, which decides and calibrates. */
import type { ResultCalibration } from "../lib/message";
import type { CalibrationRecord, Decision } from "../lib/threshold";

/** The threshold a verdict was decided with: mode, calibration time (none in fixed mode) and thresholds. */
export function resultCalibration(decision: Decision, calibration: CalibrationRecord | undefined): ResultCalibration {
  return {
    mode: decision.mode,
    created: decision.mode === "fixed" ? null : (calibration?.created ?? null),
    threshold: decision.threshold,
    lowThreshold: decision.lowThreshold ?? null,
  };
}
