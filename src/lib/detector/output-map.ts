/**
 * The anomaly map as the message carries it: on the original image's pixels (through the
 * preprocess Transform), at the model's resolution, or not at all.
 */
import { mapToSource } from "../image";
import type { ScoreMap, Transform } from "../image/types";
import type { MapSize } from "./options";

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
