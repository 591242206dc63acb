/**
 * Validates what a message offers the mask-to-region stage (msg.mask, msg.anomalyMap,
 * msg.payload.threshold, msg.transform). Values may come from a threshold node (typed arrays)
 * or from a function node or a JSON round trip (plain arrays), so both are accepted.
 */
import { DefectError } from "../errors";
import type { MapSpace, MessageScoreMap, Transform } from "../image/types";
import type { BinaryMask, RegionInput } from "./types";

const SPACES: readonly MapSpace[] = ["original", "model"];

/** The message properties the stage reads; everything else stays with the node glue. */
export interface RegionMessage {
  mask?: unknown;
  anomalyMap?: unknown;
  payload?: unknown;
  transform?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function noInput(property: string, reason: string): DefectError {
  return new DefectError("noMaskInput", `${property} ${reason}`, { property, reason });
}

function isSize(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1;
}

/** Numbers of a typed array or a plain array of numbers; undefined for anything else. */
function numbers(value: unknown): ArrayLike<number> | undefined {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array)) {
    return value as unknown as ArrayLike<number>;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === "number")) return value as number[];
  // A Buffer (a Uint8Array) that went through JSON.
  if (isRecord(value) && value["type"] === "Buffer") return numbers(value["data"]);
  return undefined;
}

function readSpace(record: Record<string, unknown>, property: string): MapSpace {
  const space = record["space"];
  // A mask or map made by hand without `space` is on the original image, the common case.
  if (space === undefined) return "original";
  const known = SPACES.find((s) => s === space);
  if (known === undefined) throw noInput(property, `has space ${JSON.stringify(space)}; expected "original" or "model"`);
  return known;
}

/** The grid fields common to a mask and a map: width, height, data of width * height numbers, space. */
function readGrid(
  value: unknown,
  property: string,
): { data: ArrayLike<number>; width: number; height: number; space: MapSpace; record: Record<string, unknown> } {
  if (!isRecord(value)) throw noInput(property, "must be an object {data, width, height, space}");
  const { width, height } = value;
  if (!isSize(width) || !isSize(height)) {
    throw noInput(property, `needs whole-number width and height of at least 1, got ${String(width)}x${String(height)}`);
  }
  const data = numbers(value["data"]);
  if (data === undefined) throw noInput(property, "has no data array of numbers");
  if (data.length !== width * height) {
    throw noInput(property, `data holds ${data.length} values but ${width}x${height} needs ${width * height}`);
  }
  return { data, width, height, space: readSpace(value, property), record: value };
}

export function readMask(value: unknown): BinaryMask {
  const grid = readGrid(value, "msg.mask");
  const threshold = grid.record["threshold"];
  const mask: BinaryMask = { data: grid.data, width: grid.width, height: grid.height, space: grid.space };
  if (typeof threshold === "number" && Number.isFinite(threshold)) mask.threshold = threshold;
  return mask;
}

export function readScoreMap(value: unknown): MessageScoreMap {
  const grid = readGrid(value, "msg.anomalyMap");
  const data = grid.data instanceof Float32Array ? grid.data : Float32Array.from(grid.data);
  return { data, width: grid.width, height: grid.height, space: grid.space };
}

function finite(record: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.every((key) => typeof record[key] === "number" && Number.isFinite(record[key]));
}

/** msg.transform as the preprocess node writes it (positive scales, a ROI inside the source). */
export function readTransform(value: unknown): Transform {
  const source = isRecord(value) ? value["source"] : undefined;
  const roi = isRecord(value) ? value["roi"] : undefined;
  const shaped =
    isRecord(value) &&
    finite(value, ["scaleX", "scaleY", "offsetX", "offsetY"]) &&
    isSize(value["width"]) &&
    isSize(value["height"]) &&
    isRecord(source) &&
    isSize(source["width"]) &&
    isSize(source["height"]) &&
    isRecord(roi) &&
    finite(roi, ["x", "y"]) &&
    isSize(roi["width"]) &&
    isSize(roi["height"]);
  const t = value as unknown as Transform;
  const sane =
    shaped &&
    t.scaleX > 0 &&
    t.scaleY > 0 &&
    Number.isInteger(t.roi.x) &&
    Number.isInteger(t.roi.y) &&
    t.roi.x >= 0 &&
    t.roi.y >= 0 &&
    t.roi.x + t.roi.width <= t.source.width &&
    t.roi.y + t.roi.height <= t.source.height;
  if (!sane) {
    throw new DefectError("invalidOption", "msg.transform must be the transform the preprocess node writes", {
      option: "msg.transform",
      value: isRecord(value) ? JSON.stringify(value).slice(0, 200) : typeof value,
    });
  }
  return t;
}

/**
 * What the stage works on. A mask is used as given; without one the map is thresholded at
 * msg.payload.threshold. msg.transform is required only for data in model space.
 */
export function readRegionInput(msg: RegionMessage): RegionInput {
  const input: RegionInput = {};
  if (msg.mask !== undefined && msg.mask !== null) input.mask = readMask(msg.mask);
  if (msg.anomalyMap !== undefined && msg.anomalyMap !== null) input.map = readScoreMap(msg.anomalyMap);
  const threshold = isRecord(msg.payload) ? msg.payload["threshold"] : undefined;
  if (typeof threshold === "number" && Number.isFinite(threshold)) input.threshold = threshold;
  if (input.mask === undefined) {
    if (input.map === undefined) throw noInput("msg.mask", "is missing, and there is no msg.anomalyMap to threshold either");
    if (input.threshold === undefined) {
      throw noInput("msg.mask", "is missing, and msg.anomalyMap cannot be thresholded without a numeric msg.payload.threshold");
    }
  }
  if (input.mask !== undefined && input.map !== undefined) {
    const { mask, map } = input;
    if (mask.width !== map.width || mask.height !== map.height || mask.space !== map.space) {
      const maskText = `${mask.width}x${mask.height} (${mask.space})`;
      const mapText = `${map.width}x${map.height} (${map.space})`;
      throw new DefectError("maskSizeMismatch", `msg.mask is ${maskText} but msg.anomalyMap is ${mapText}`, { mask: maskText, map: mapText });
    }
  }
  const space = (input.mask ?? input.map)?.space;
  if (space === "model") {
    if (msg.transform === undefined || msg.transform === null) {
      throw new DefectError(
        "noTransformInput",
        'The mask is in model pixels (space "model") and needs msg.transform from the preprocess node to be placed on the image',
        {
          property: "msg.transform",
        },
      );
    }
    input.transform = readTransform(msg.transform);
  }
  return input;
}
