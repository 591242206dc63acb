/**
 * Gray planes: the one pixel layout template comparison works on. Values are 0..1 whatever the
 * source bit depth, so tolerances and thresholds mean the same for 8- and 16-bit images.
 */
import { DefectError } from "../../errors";
import type { RawImage } from "../../image/types";

export interface GrayPlane {
  data: Float32Array;
  width: number;
  height: number;
}

/** Smallest side accepted: alignment needs room for its correlation window and tiles. */
export const MIN_TEMPLATE_SIDE = 16;

export function createPlane(width: number, height: number): GrayPlane {
  return { data: new Float32Array(width * height), width, height };
}

/** Colour channels averaged with equal weight (alpha ignored): boards and labels are compared by brightness. */
export function toGrayPlane(image: RawImage, name = "image"): GrayPlane {
  const { width, height, channels, data } = image;
  if (width < MIN_TEMPLATE_SIDE || height < MIN_TEMPLATE_SIDE) {
    throw new DefectError(
      "imageTooSmall",
      `The ${name} of ${width}x${height} is too small for template comparison; each side needs at least ${MIN_TEMPLATE_SIDE} pixels.`,
      { name, width, height, minSide: MIN_TEMPLATE_SIDE },
    );
  }
  const colour = channels >= 3 ? 3 : 1;
  const scale = 1 / ((image.bitDepth === 16 ? 65535 : 255) * colour);
  const out = createPlane(width, height);
  const n = width * height;
  for (let i = 0, p = 0; i < n; i++, p += channels) {
    let sum = data[p] as number;
    if (colour === 3) sum += (data[p + 1] as number) + (data[p + 2] as number);
    out.data[i] = sum * scale;
  }
  return out;
}

export function assertSameSize(a: GrayPlane, b: GrayPlane, nameA: string, nameB: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new DefectError(
      "imageSizeMismatch",
      `The ${nameA} is ${a.width}x${a.height} but the ${nameB} is ${b.width}x${b.height}; template comparison needs equal sizes.`,
      { image: nameA, width: a.width, height: a.height, other: nameB, otherWidth: b.width, otherHeight: b.height },
    );
  }
}
