/**
 * msg.payload.calibration of a learning result: image scores of good parts the detector's model
 * did not learn from, which the detector hands over with the model it fitted (the learned image
 * that completed a round, the fit command's answer, the training folder's fit) so that a
 * good-only threshold calibrates without any image being read again. The detector writes it;
 * the threshold node and the offline line read it.
 */
import { DefectError } from "../errors";
import { describe, isRecord } from "./record";

/**
 * "leave-one-out": each learned image scored against the model without what it brought.
 * "held-back": images kept out of the model and scored by it.
 */
export const HANDED_CALIBRATION_KINDS = ["leave-one-out", "held-back"] as const;
export type HandedCalibrationKind = (typeof HANDED_CALIBRATION_KINDS)[number];

export interface HandedCalibration {
  kind: HandedCalibrationKind;
  /** One image score each, in learning order. */
  scores: number[];
}

function invalid(why: string): DefectError {
  return new DefectError("invalidOption", `msg.payload.calibration is not a set of good scores: ${why}`, {
    option: "msg.payload.calibration",
    value: why,
  });
}

/**
 * The scores a learning result hands over; undefined when it hands none. Every score must be a
 * finite number: a NaN (null once it went through JSON) would sort anywhere and silently move a
 * threshold, so the whole set is refused with `invalidOption` naming the first bad one.
 */
export function readHandedCalibration(payload: unknown): HandedCalibration | undefined {
  if (!isRecord(payload) || payload["calibration"] === undefined) return undefined;
  const value = payload["calibration"];
  if (!isRecord(value)) throw invalid(`got ${describe(value)}`);
  const kind = HANDED_CALIBRATION_KINDS.find((k) => k === value["kind"]);
  if (kind === undefined) throw invalid(`kind must be ${HANDED_CALIBRATION_KINDS.join(" or ")}, got ${describe(value["kind"])}`);
  const scores = value["scores"];
  if (!Array.isArray(scores)) throw invalid(`scores must be an array of numbers, got ${describe(scores)}`);
  const bad = scores.findIndex((s) => typeof s !== "number" || !Number.isFinite(s));
  if (bad >= 0) throw invalid(`scores[${bad}] is ${typeof scores[bad] === "number" ? String(scores[bad]) : describe(scores[bad])}, not a finite number`);
  return { kind, scores: [...(scores as number[])] };
}
