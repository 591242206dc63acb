/**
 * What the line keeps of each message at the tap: a few numbers and boxes, and for pixel
 * metrics the anomaly map resampled to the evaluation grid, so no image, tensor or full-size map
 * is held beyond the message's life.
 */
import type { Rect } from "../../lib/image/types";
import { LineFailure } from "./failure";
import { detectorAnswerOf, finiteNumber, isRecord, messageImageSize, readAnomalyMap, readRegions, readTimings } from "../../lib/message";

type Message = Readonly<Record<string, unknown>>;

export interface LearnAnswer {
  count: number;
  total: number;
  /** Present on the answer that completed the round: what the model was fitted on. */
  model: Readonly<Record<string, string | number>> | null;
  /**
   * Present when the threshold node calibrated from the good scores the fit handed over: the
   * answer then comes out as the threshold's calibration answer, the detector's in msg.detection.
   */
  calibration: CalibrationAnswer | null;
}

export interface CalibrationAnswer {
  count: number;
  total: number;
  /** Present on the sample that completed the calibration. */
  threshold: number | null;
  /** The false-reject rate the calibration promises (quantile mode), on that sample. */
  promisedFrr: number | null;
}

/** The detector's answer to a verdict (it passes threshold and mask to region untouched). */
export interface ConfirmAnswer {
  /**
   * Present when the threshold node calibrated again from the good scores the answer handed
   * over (scored as the model scores after the verdict), as for LearnAnswer.
   */
  calibration: CalibrationAnswer | null;
  /** Confirmed defects with a region the detector's patch head has learned from. */
  labelled: number;
  /** Rows of its defect bank (defects confirmed without a region). */
  defect: number;
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

function payloadOf(msg: Message, what: string): Record<string, unknown> {
  const payload = msg["payload"];
  if (!isRecord(payload)) throw new LineFailure(`the line answered ${what} without an object payload`);
  return payload;
}

/** The detector's answer (through a threshold that calibrated from it, in msg.detection). */
function detectorAnswer(msg: Message, what: string): { answer: Record<string, unknown>; calibrated: boolean } {
  payloadOf(msg, what);
  const { answer, calibrated } = detectorAnswerOf(msg);
  return { answer: answer as Record<string, unknown>, calibrated };
}

export function readLearnAnswer(msg: Message): LearnAnswer {
  const { answer: learning, calibrated } = detectorAnswer(msg, "a learned image");
  if (learning["learning"] !== true) throw new LineFailure("the detector did not answer a learned image as learning");
  const model = isRecord(learning["model"]) ? (learning["model"] as Record<string, string | number>) : null;
  return {
    count: finiteNumber(learning["count"]) ?? 0,
    total: finiteNumber(learning["total"]) ?? 0,
    model,
    calibration: calibrated ? readCalibrationAnswer(msg) : null,
  };
}

export function readCalibrationAnswer(msg: Message): CalibrationAnswer {
  const payload = payloadOf(msg, "a calibration image");
  if (payload["calibrating"] !== true) throw new LineFailure("the threshold did not answer a calibration image as a sample");
  const calibration = payload["calibration"];
  const threshold = isRecord(calibration) ? (finiteNumber(calibration["threshold"]) ?? null) : null;
  const promise = isRecord(calibration) && isRecord(calibration["promise"]) ? (finiteNumber(calibration["promise"]["frr"]) ?? null) : null;
  return { count: finiteNumber(payload["count"]) ?? 0, total: finiteNumber(payload["total"]) ?? 0, threshold, promisedFrr: promise };
}

export function readConfirmAnswer(msg: Message): ConfirmAnswer {
  const { answer, calibrated } = detectorAnswer(msg, "a confirmed defect");
  const bank = answer["bank"];
  if (answer["confirmed"] !== "defect" || !isRecord(bank)) throw new LineFailure("the detector did not answer a confirmed defect as a verdict");
  return {
    labelled: finiteNumber(bank["labelled"]) ?? 0,
    defect: finiteNumber(bank["defect"]) ?? 0,
    calibration: calibrated ? readCalibrationAnswer(msg) : null,
  };
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

/** The map on the evaluation grid; a message without a usable map has none. */
function readMap(msg: Message, size: number): Float32Array | null {
  try {
    const map = readAnomalyMap(msg);
    return map === undefined ? null : resampleMap(map.data, map.width, map.height, size);
  } catch {
    return null;
  }
}

/** A reader of inspected messages; `mapSize` > 0 keeps the map on that grid. */
export function inspectionReader(mapSize: number): (msg: Message) => Inspected {
  return (msg) => {
    const payload = payloadOf(msg, "an inspection");
    const score = finiteNumber(payload["score"]);
    const threshold = finiteNumber(payload["threshold"]);
    const verdict = payload["verdict"];
    if (score === undefined || threshold === undefined || typeof verdict !== "string") {
      throw new LineFailure("an inspection came out of the line without score, threshold and verdict");
    }
    const size = messageImageSize(msg);
    return {
      score,
      verdict,
      threshold,
      regions: readRegions(msg).map(({ x, y, width, height }) => ({ x, y, width, height })),
      width: size?.width ?? 0,
      height: size?.height ?? 0,
      map: mapSize > 0 ? readMap(msg, mapSize) : null,
      timings: readTimings(msg),
    };
  };
}

export function readStreamed(msg: Message): Streamed {
  const payload = payloadOf(msg, "an inspection");
  return { verdict: typeof payload["verdict"] === "string" ? payload["verdict"] : "" };
}
