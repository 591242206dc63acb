/**
 * The anomaly map as the message carries it: on the original image's pixels (through the
 * preprocess Transform), at the model's resolution, or not at all.
 */
import { DefectError } from "../errors";
import { mapToSource } from "../image";
import type { ScoreMap, Tensor, Transform } from "../image/types";
import type { MapSize } from "./options";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function finite(record: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.every((key) => typeof record[key] === "number" && Number.isFinite(record[key]));
}

function tensorSize(tensor: Tensor): { width: number; height: number } {
  const nchw = tensor.layout === "NCHW";
  return { height: tensor.dims[nchw ? 2 : 1] as number, width: tensor.dims[nchw ? 3 : 2] as number };
}

/** msg.transform when it is a Transform of this tensor; undefined when absent. */
export function readTransform(value: unknown, tensor: Tensor): Transform | undefined {
  if (value === undefined || value === null) return undefined;
  const ok =
    isRecord(value) &&
    finite(value, ["scaleX", "scaleY", "offsetX", "offsetY", "width", "height"]) &&
    isRecord(value["source"]) &&
    finite(value["source"], ["width", "height"]) &&
    isRecord(value["roi"]) &&
    finite(value["roi"], ["x", "y", "width", "height"]);
  if (!ok) {
    throw new DefectError("invalidOption", "msg.transform must be the transform the preprocess node writes", { option: "msg.transform", value: typeof value });
  }
  const transform = value as unknown as Transform;
  const size = tensorSize(tensor);
  if (transform.width !== size.width || transform.height !== size.height) {
    throw new DefectError(
      "invalidOption",
      `msg.transform describes a ${transform.width}x${transform.height} tensor but msg.payload is ${size.width}x${size.height}`,
      { option: "msg.transform", value: `${transform.width}x${transform.height}` },
    );
  }
  return transform;
}

/**
 * Whether the map's pixels are the source image's already (the image went into the tensor
 * unscaled and uncropped, as template comparison wants it): resampling would copy it value for
 * value, a few milliseconds of main thread a part at 640 px for nothing.
 */
function onSourcePixels(t: Transform, map: ScoreMap): boolean {
  const whole = t.roi.x === 0 && t.roi.y === 0 && t.roi.width === t.source.width && t.roi.height === t.source.height;
  const unscaled = t.scaleX === 1 && t.scaleY === 1 && t.offsetX === 0 && t.offsetY === 0;
  return whole && unscaled && t.width === t.source.width && t.height === t.source.height && map.width === t.width && map.height === t.height;
}

/** "original" needs a transform; without one the map stays at the model's resolution. */
export function outputMap(map: ScoreMap | null, mapSize: MapSize, transform: Transform | undefined): ScoreMap | null {
  if (map === null || mapSize === "none") return null;
  if (mapSize === "model" || transform === undefined) return map;
  return onSourcePixels(transform, map) ? map : mapToSource(transform, map);
}
