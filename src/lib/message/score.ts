/**
 * The image score in msg.payload: the detector writes `{ score, ... }`; the threshold node must
 * have it, the alarm takes it when there is one, and a flow may send a bare number instead.
 */
import { DefectError } from "../errors";
import { describe, finiteNumber, isRecord } from "./record";

/** msg.payload.score, or msg.payload itself when it is a number; undefined unless finite. */
export function scoreOf(payload: unknown): number | undefined {
  return finiteNumber(isRecord(payload) ? payload["score"] : payload);
}

/** The score, which the caller cannot do without: `noScoreInput` saying what was there instead. */
export function readScore(payload: unknown): number {
  const score = scoreOf(payload);
  if (score !== undefined) return score;
  const what = isRecord(payload) ? `msg.payload.score is ${describeScore(payload["score"])}` : `msg.payload is ${describe(payload)}`;
  throw new DefectError("noScoreInput", `no score on the message: ${what}; expected a number or { score } from the detector`, { reason: what });
}

function describeScore(value: unknown): string {
  return typeof value === "number" ? String(value) : describe(value);
}
