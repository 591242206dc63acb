/** Reading what the threshold stage needs from a message: the score and the optional map. */
import { DefectError } from "../errors";
import type { MapSpace, MessageScoreMap } from "../image/types";

const MAP_SPACES: readonly MapSpace[] = ["original", "model"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (Buffer.isBuffer(value)) return "a Buffer";
  return typeof value;
}

/** msg.payload.score (the detector's output) or msg.payload itself when it is a number. */
export function readScore(payload: unknown): number {
  const score = isRecord(payload) ? payload["score"] : payload;
  if (typeof score === "number" && Number.isFinite(score)) return score;
  const what = isRecord(payload)
    ? `msg.payload.score is ${typeof score === "number" ? String(score) : describe(score)}`
    : `msg.payload is ${describe(payload)}`;
  throw new DefectError("noScoreInput", `no score on the message: ${what}; expected a number or { score } from the detector`, { reason: what });
}

function mapInvalid(reason: string): DefectError {
  return new DefectError("invalidOption", `msg.anomalyMap is not a score map: ${reason}`, { option: "msg.anomalyMap", value: reason });
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}

/**
 * msg.anomalyMap as the detector writes it, or undefined when the message has none. A map from
 * another source may be a plain number array; `space` defaults to original image pixels.
 */
export function readScoreMap(value: unknown): MessageScoreMap | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw mapInvalid(`got ${describe(value)}`);
  const { width, height } = value;
  if (!isPositiveInteger(width) || !isPositiveInteger(height))
    throw mapInvalid(`width and height must be positive integers, got ${String(width)}x${String(height)}`);
  const raw = value["data"];
  let data: Float32Array;
  if (raw instanceof Float32Array) data = raw;
  else if (Array.isArray(raw) && raw.every((v) => typeof v === "number")) data = Float32Array.from(raw as number[]);
  else throw mapInvalid(`data must be a Float32Array, got ${describe(raw)}`);
  if (data.length !== width * height) throw mapInvalid(`${data.length} values do not fill ${width}x${height}`);
  const space = value["space"] ?? "original";
  const known = MAP_SPACES.find((s) => s === space);
  if (known === undefined) throw mapInvalid(`space must be original or model, got ${String(space)}`);
  return { data, width, height, space: known };
}
