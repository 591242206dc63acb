/**
 * What the line keeps of each message at the tap: a few numbers and boxes, and for pixel
 * metrics the anomaly map resampled to the evaluation grid, so no image, tensor or full-size map
 * is held beyond the message's life.
 */
import type { Rect } from "../../lib/image/types";
import { LineFailure } from "./failure";

type Message = Readonly<Record<string, unknown>>;

export interface LearnAnswer {
  count: number;
  total: number;
  /** Present on the answer that completed the round: what the model was fitted on. */
  model: Readonly<Record<string, string | number>> | null;
}

export interface CalibrationAnswer {
  count: number;
  total: number;
  /** Present on the sample that completed the calibration. */
  threshold: number | null;
  /** The false-reject rate the calibration promises (quantile mode), on that sample. */
  promisedFrr: number | null;
}

export interface Inspected {
  score: number;
  verdict: string;
  threshold: number;
  /** mask to region's boxes, original image pixels. */
  regions: Rect[];
  /** The original image's size, where the regions are. */
  width: number;
  height: number;
  /** The anomaly map on the evaluation grid (size x size), when asked for. */
  map: Float32Array | null;
  /** msg.timings as the nodes wrote them (preprocessMs, backboneMs, ...). */
  timings: Readonly<Record<string, number>>;
}

export interface Streamed {
  verdict: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function payloadOf(msg: Message, what: string): Record<string, unknown> {
  const payload = msg["payload"];
  if (!isRecord(payload)) throw new LineFailure(`the line answered ${what} without an object payload`);
  return payload;
}

export function readLearnAnswer(msg: Message): LearnAnswer {
  const payload = payloadOf(msg, "a learned image");
  if (payload["learning"] !== true) throw new LineFailure("the detector did not answer a learned image as learning");
  const model = isRecord(payload["model"]) ? (payload["model"] as Record<string, string | number>) : null;
  return { count: finite(payload["count"]) ?? 0, total: finite(payload["total"]) ?? 0, model };
}

export function readCalibrationAnswer(msg: Message): CalibrationAnswer {
  const payload = payloadOf(msg, "a calibration image");
  if (payload["calibrating"] !== true) throw new LineFailure("the threshold did not answer a calibration image as a sample");
  const calibration = payload["calibration"];
  const threshold = isRecord(calibration) ? (finite(calibration["threshold"]) ?? null) : null;
  const promise = isRecord(calibration) && isRecord(calibration["promise"]) ? (finite(calibration["promise"]["frr"]) ?? null) : null;
  return { count: finite(payload["count"]) ?? 0, total: finite(payload["total"]) ?? 0, threshold, promisedFrr: promise };
}

function readRegions(value: unknown): Rect[] {
  if (!Array.isArray(value)) return [];
  const boxes: Rect[] = [];
  for (const item of value as unknown[]) {
    if (!isRecord(item)) continue;
    const [x, y, width, height] = [finite(item["x"]), finite(item["y"]), finite(item["width"]), finite(item["height"])];
    if (x !== undefined && y !== undefined && width !== undefined && height !== undefined) boxes.push({ x, y, width, height });
  }
  return boxes;
}

/** Nearest-neighbour resampling of a row-major map onto a size x size grid. */
export function resampleMap(data: ArrayLike<number>, width: number, height: number, size: number): Float32Array {
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / size)) * width;
    for (let x = 0; x < size; x++) out[y * size + x] = data[row + Math.min(width - 1, Math.floor(((x + 0.5) * width) / size))] as number;
  }
  return out;
}

function readMap(value: unknown, size: number): Float32Array | null {
  if (!isRecord(value)) return null;
  const { data, width, height } = value;
  if (!(data instanceof Float32Array) || typeof width !== "number" || typeof height !== "number" || data.length !== width * height) return null;
  return resampleMap(data, width, height, size);
}

function readTimings(value: unknown): Record<string, number> {
  const timings: Record<string, number> = {};
  if (isRecord(value)) for (const [name, ms] of Object.entries(value)) if (finite(ms) !== undefined) timings[name] = ms as number;
  return timings;
}

/** A reader of inspected messages; `mapSize` > 0 keeps the map on that grid. */
export function inspectionReader(mapSize: number): (msg: Message) => Inspected {
  return (msg) => {
    const payload = payloadOf(msg, "an inspection");
    const score = finite(payload["score"]);
    const threshold = finite(payload["threshold"]);
    const verdict = payload["verdict"];
    if (score === undefined || threshold === undefined || typeof verdict !== "string") {
      throw new LineFailure("an inspection came out of the line without score, threshold and verdict");
    }
    const image = isRecord(msg["image"]) ? msg["image"] : {};
    return {
      score,
      verdict,
      threshold,
      regions: readRegions(msg["regions"]),
      width: finite(image["width"]) ?? 0,
      height: finite(image["height"]) ?? 0,
      map: mapSize > 0 ? readMap(msg["anomalyMap"], mapSize) : null,
      timings: readTimings(msg["timings"]),
    };
  };
}

export function readStreamed(msg: Message): Streamed {
  const payload = payloadOf(msg, "an inspection");
  return { verdict: typeof payload["verdict"] === "string" ? payload["verdict"] : "" };
}
