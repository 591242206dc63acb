/**
 * msg.anomalyMap (the detector's scores, one a pixel) and msg.mask (the threshold node's 0/1
 * pixels). Both are grids { data, width, height, space }, read by the threshold node and by
 * mask-to-region, and both may come from elsewhere than this package's nodes: a function node or
 * a JSON round trip (plain arrays, a Buffer as { type: "Buffer", data }), so every form of numbers
 * is accepted. `space` defaults to the original image's pixels, the common case of a hand-made grid.
 */
import { DefectError } from "../errors";
import type { BinaryMask, MapSpace, MessageScoreMap } from "../image/types";
import { describe, finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";

const SPACES: readonly MapSpace[] = ["original", "model"];

export type GridProperty = "msg.anomalyMap" | "msg.mask" | "msg.confirm.mask";

/** What is wrong with a grid, for the caller to word its error. */
export type GridFault =
  | { kind: "notObject"; got: string }
  | { kind: "size"; width: unknown; height: unknown }
  | { kind: "data"; got: string }
  | { kind: "length"; length: number; width: number; height: number }
  | { kind: "space"; space: unknown };

/**
 * Turns a fault into the error the node reports. Nodes have their own codes for it (the
 * threshold node `invalidOption`, mask-to-region `noMaskInput`), which flows may switch on.
 */
export type GridError = (property: GridProperty, fault: GridFault) => Error;

/** The fault in words that follow the property's name: "msg.mask data holds 5 values but 2x2 needs 4". */
export function gridFaultText(fault: GridFault): string {
  switch (fault.kind) {
    case "notObject":
      return `must be an object {data, width, height, space}, got ${fault.got}`;
    case "size":
      return `needs whole-number width and height of at least 1, got ${String(fault.width)}x${String(fault.height)}`;
    case "data":
      return `has no data array of numbers (got ${fault.got})`;
    case "length":
      return `data holds ${fault.length} values but ${fault.width}x${fault.height} needs ${fault.width * fault.height}`;
    case "space":
      return `has space ${JSON.stringify(fault.space) ?? String(fault.space)}; expected "original" or "model"`;
  }
}

/** `invalidOption` naming the property: what the package's documentation lists for a malformed map. */
export const invalidGrid: GridError = (property, fault) =>
  new DefectError("invalidOption", `${property} ${gridFaultText(fault)}`, { option: property, value: gridFaultText(fault) });

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/** Numbers of a typed array, a plain array of numbers or a Buffer that went through JSON; undefined for anything else. */
function numbers(value: unknown): ArrayLike<number> | undefined {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array)) {
    return value as unknown as ArrayLike<number>;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === "number")) return value as number[];
  if (isRecord(value) && value["type"] === "Buffer") return numbers(value["data"]);
  return undefined;
}

interface Grid {
  data: ArrayLike<number>;
  width: number;
  height: number;
  space: MapSpace;
  fields: Record<string, unknown>;
}

function readGrid(value: unknown, property: GridProperty, fail: GridError): Grid {
  if (!isRecord(value)) throw fail(property, { kind: "notObject", got: describe(value) });
  const { width, height } = value;
  if (!isSize(width) || !isSize(height)) throw fail(property, { kind: "size", width, height });
  const data = numbers(value["data"]);
  if (data === undefined) throw fail(property, { kind: "data", got: describe(value["data"]) });
  if (data.length !== width * height) throw fail(property, { kind: "length", length: data.length, width, height });
  const given = value["space"];
  const space = given === undefined ? "original" : SPACES.find((s) => s === given);
  if (space === undefined) throw fail(property, { kind: "space", space: given });
  return { data, width, height, space, fields: value };
}

/** msg.anomalyMap with its data as a Float32Array; undefined when the message has none. */
export function readAnomalyMap(msg: MessageView, fail: GridError = invalidGrid): MessageScoreMap | undefined {
  const value = msg.anomalyMap;
  if (value === undefined || value === null) return undefined;
  const grid = readGrid(value, "msg.anomalyMap", fail);
  const data = grid.data instanceof Float32Array ? grid.data : Float32Array.from(grid.data);
  return { data, width: grid.width, height: grid.height, space: grid.space };
}

/** msg.mask (non-zero = defect pixel), its data as given; undefined when the message has none. */
export function readMask(msg: MessageView, fail: GridError = invalidGrid): BinaryMask | undefined {
  const value = msg.mask;
  if (value === undefined || value === null) return undefined;
  return readMaskValue(value, "msg.mask", fail);
}

/** A binary mask found at `property` (msg.mask, or one inside another property), its data as given. */
export function readMaskValue(value: unknown, property: GridProperty, fail: GridError = invalidGrid): BinaryMask {
  const grid = readGrid(value, property, fail);
  const mask: BinaryMask = { data: grid.data, width: grid.width, height: grid.height, space: grid.space };
  const threshold = finiteNumber(grid.fields["threshold"]);
  if (threshold !== undefined) mask.threshold = threshold;
  return mask;
}

/** Sets msg.anomalyMap, or removes it (null): a map left from an earlier node would describe another image. */
export function writeAnomalyMap(msg: MessageFields, map: MessageScoreMap | null): void {
  if (map === null) delete msg["anomalyMap"];
  else msg["anomalyMap"] = map;
}

/** Sets msg.mask, or removes it (null): a mask left from an earlier node would describe another image. */
export function writeMask(msg: MessageFields, mask: Required<BinaryMask> | null): void {
  if (mask === null) delete msg["mask"];
  else msg["mask"] = mask;
}
