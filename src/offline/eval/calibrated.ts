/**
 * `eval`'s figures at the threshold a threshold node would set from training data alone: the
 * detector's handed-over good scores (PatchCore's leave-one-out scores of the images it learned)
 * calibrate a threshold node's session in its good-only false-reject-rate mode, exactly as the
 * node calibrates from a learning result, and that session judges every test score. `line` gets
 * the same figures from the node itself.
 */
import { describeError } from "../../lib/errors";
import type { HandedCalibration } from "../../lib/message";
import { parseThresholdOptions, ThresholdSession } from "../../lib/threshold";

export interface CalibratedFigures {
  /** Share of defective test parts the threshold calls NG; null without a threshold or defective parts. */
  calibrated_recall: number | null;
  /** Share of good test parts it calls NG (false rejects); null without a threshold or good parts. */
  calibrated_frr: number | null;
  /** The false-reject rate the calibration promises for good parts it was not calibrated on. */
  promised_frr: number | null;
  /** NG at or above this score. */
  calibrated_threshold: number | null;
  /** How the good scores were made ("leave-one-out"); null when the detector handed none. */
  calibration: string | null;
  calibration_images: number;
  /** Why there is no threshold (e.g. too few scores for the rate); null when there is one. */
  calibration_error: string | null;
}

function share(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

/**
 * `labels[i]` is 1 for a defective part, 0 for a good one; `frrPercent` the node's *False rejects*
 * (undefined: its default).
 */
export function calibratedFigures(
  scores: readonly number[],
  labels: readonly number[],
  handed: HandedCalibration | undefined,
  frrPercent?: number,
): CalibratedFigures {
  const none = { calibrated_recall: null, calibrated_frr: null, promised_frr: null, calibrated_threshold: null };
  if (handed === undefined) return { ...none, calibration: null, calibration_images: 0, calibration_error: "the detector hands over no good scores" };
  const session = new ThresholdSession(parseThresholdOptions({ mode: "quantile", ...(frrPercent === undefined ? {} : { frr: frrPercent }) }));
  const base = { calibration: handed.kind, calibration_images: handed.scores.length };
  let record;
  try {
    record = session.handover(handed, new Date());
  } catch (error) {
    return { ...none, ...base, calibration_error: describeError(error) };
  }
  let ngDefective = 0;
  let ngGood = 0;
  for (const [i, score] of scores.entries()) {
    if (session.inspect(score).verdict !== "NG") continue;
    if (labels[i] === 1) ngDefective++;
    else ngGood++;
  }
  const defective = labels.filter((l) => l === 1).length;
  return {
    calibrated_recall: share(ngDefective, defective),
    calibrated_frr: share(ngGood, labels.length - defective),
    promised_frr: record.promise?.frr ?? null,
    calibrated_threshold: record.threshold,
    ...base,
    calibration_error: null,
  };
}
