/**
 * msg.transform: written by the preprocess node, read by the detector (to map its results back
 * onto the original image) and by mask-to-region (to place a mask in model pixels). Both read it
 * here, with the same checks, so a transform one accepts the other accepts too.
 */
import { DefectError } from "../errors";
import type { Tensor, Transform } from "../image/types";
import { describe, isRecord, type MessageFields, type MessageView } from "./record";
import { tensorSize } from "../image/tensor";

const OPTION = "msg.transform";

function invalid(reason: string): DefectError {
  return new DefectError("invalidOption", `msg.transform must be the transform the preprocess node writes: ${reason}`, { option: OPTION, value: reason });
}

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/** The first of `keys` of `record` that is not a finite number, named with `prefix`. */
function notFinite(record: Record<string, unknown>, keys: readonly string[], prefix = ""): string | undefined {
  const key = keys.find((k) => typeof record[k] !== "number" || !Number.isFinite(record[k]));
  return key === undefined ? undefined : `${prefix}${key} is ${describeNumber(record[key])}`;
}

/** The first of `keys` that is not a whole number of at least 1. */
function notSize(record: Record<string, unknown>, keys: readonly string[], prefix = ""): string | undefined {
  const key = keys.find((k) => !isSize(record[k]));
  return key === undefined ? undefined : `${prefix}${key} is ${describeNumber(record[key])}, not a whole number of at least 1`;
}

function describeNumber(value: unknown): string {
  return typeof value === "number" ? String(value) : describe(value);
}

/**
 * Why `value` is not a transform the preprocess node could have written, or undefined when it is
 * one. Beyond the shape, the ROI must be whole pixels inside the source and the scales positive:
 * the mapping divides by the scales, and boxes are clipped to the ROI.
 */
function transformFault(value: unknown): string | undefined {
  if (!isRecord(value)) return `got ${describe(value)}`;
  const { source, roi } = value;
  if (!isRecord(source)) return `source is ${describe(source)}, not {width, height}`;
  if (!isRecord(roi)) return `roi is ${describe(roi)}, not {x, y, width, height}`;
  const fault =
    notFinite(value, ["scaleX", "scaleY", "offsetX", "offsetY"]) ??
    notSize(value, ["width", "height"]) ??
    notSize(source, ["width", "height"], "source.") ??
    notFinite(roi, ["x", "y"], "roi.") ??
    notSize(roi, ["width", "height"], "roi.");
  if (fault !== undefined) return fault;
  const t = value as unknown as Transform;
  if (t.scaleX <= 0 || t.scaleY <= 0) return `scales ${t.scaleX} and ${t.scaleY} must be positive`;
  const inside =
    Number.isInteger(t.roi.x) &&
    Number.isInteger(t.roi.y) &&
    t.roi.x >= 0 &&
    t.roi.y >= 0 &&
    t.roi.x + t.roi.width <= t.source.width &&
    t.roi.y + t.roi.height <= t.source.height;
  if (!inside) {
    return `roi ${t.roi.x},${t.roi.y} ${t.roi.width}x${t.roi.height} is not a region of whole pixels inside the ${t.source.width}x${t.source.height} source`;
  }
  return undefined;
}

/** msg.transform, checked; undefined when the message has none. */
export function readTransform(msg: MessageView): Transform | undefined {
  const value = msg.transform;
  if (value === undefined || value === null) return undefined;
  const fault = transformFault(value);
  if (fault !== undefined) throw invalid(fault);
  return value as Transform;
}

/**
 * msg.transform when it describes `tensor` (the one in msg.payload); undefined when the message
 * has none. A transform of another tensor size would put every box and map pixel in the wrong
 * place without any other sign.
 */
export function readTensorTransform(msg: MessageView, tensor: Tensor): Transform | undefined {
  const transform = readTransform(msg);
  if (transform === undefined) return undefined;
  const size = tensorSize(tensor);
  if (transform.width !== size.width || transform.height !== size.height) {
    throw new DefectError(
      "invalidOption",
      `msg.transform describes a ${transform.width}x${transform.height} tensor but msg.payload is ${size.width}x${size.height}`,
      { option: OPTION, value: `${transform.width}x${transform.height}` },
    );
  }
  return transform;
}

export function writeTransform(msg: MessageFields, transform: Transform): void {
  msg["transform"] = transform;
}
