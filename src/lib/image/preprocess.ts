/**
 * Encoded image -> model tensor, the hot path: one sharp pipeline (decode once, orient, ROI,
 * resize, crop, colour space) followed by one pass that normalises and pads. The geometry
 * comes from computeTransform, so results can be mapped back with the returned Transform.
 */
import type sharp from "sharp";
import { openImage, readHeader, runToRaw, type DecodeLimits } from "./decode";
import { toPaddedTensor } from "./tensor";
import { computeTransform, resizedSize } from "./transform";
import type { ImageInfo, PreprocessOptions, Rect, Tensor, Transform } from "./types";

export interface PreprocessResult {
  tensor: Tensor;
  transform: Transform;
  info: ImageInfo;
}

function isWhole(region: Rect, info: ImageInfo): boolean {
  return region.x === 0 && region.y === 0 && region.width === info.width && region.height === info.height;
}

/** Adds ROI extraction, resize and (center-crop) cropping; letterbox padding is left to the tensor writer. */
function applyGeometry(pipeline: sharp.Sharp, t: Transform, info: ImageInfo, kernel: PreprocessOptions["kernel"]): sharp.Sharp {
  const resized = resizedSize(t);
  // Center-crop leaves negative offsets: the part of the resized ROI that falls on the tensor.
  const crop: Rect = {
    x: Math.max(0, -t.offsetX),
    y: Math.max(0, -t.offsetY),
    width: Math.min(resized.width, t.width),
    height: Math.min(resized.height, t.height),
  };
  const cropping = crop.width < resized.width || crop.height < resized.height;
  if (resized.width === t.roi.width && resized.height === t.roi.height) {
    // No scaling: the crop is simply a smaller region of the source.
    const region = { x: t.roi.x + crop.x, y: t.roi.y + crop.y, width: crop.width, height: crop.height };
    if (isWhole(region, info)) return pipeline;
    return pipeline.extract({ left: region.x, top: region.y, width: region.width, height: region.height });
  }
  // sharp applies an extract called before resize() to the input and one called after to the output.
  let p = pipeline;
  if (!isWhole(t.roi, info)) p = p.extract({ left: t.roi.x, top: t.roi.y, width: t.roi.width, height: t.roi.height });
  // fastShrinkOnLoad off: JPEG shrink-on-load may round sizes, shifting pixels against the Transform.
  p = p.resize(resized.width, resized.height, { fit: "fill", kernel, fastShrinkOnLoad: false });
  if (cropping) p = p.extract({ left: crop.x, top: crop.y, width: crop.width, height: crop.height });
  return p;
}

/**
 * Decodes `buffer`, applies EXIF orientation, ROI, resize mode and colour conversion, and
 * normalises into a tensor of options.width x options.height.
 */
export async function preprocessImage(buffer: Buffer, options: PreprocessOptions, limits: DecodeLimits): Promise<PreprocessResult> {
  const header = await readHeader(buffer, limits);
  const { info } = header;
  const transform = computeTransform(info, options.roi, options);
  const deep = info.bitDepth === 16;
  // Gray sources stay one channel (the tensor writer spreads it over rgb); colour sources stay
  // colour and become gray, if asked, in the tensor writer with the usual training weights.
  const space = header.gray ? (deep ? "grey16" : "b-w") : deep ? "rgb16" : "srgb";
  const pipeline = applyGeometry(openImage(buffer, limits), transform, info, options.kernel).removeAlpha().toColourspace(space);
  const image = await runToRaw(pipeline, info.bitDepth, info, limits);
  const tensor = toPaddedTensor(image, options, {
    width: options.width,
    height: options.height,
    left: Math.max(0, transform.offsetX),
    top: Math.max(0, transform.offsetY),
    padValue: options.padValue,
  });
  return { tensor, transform, info };
}
