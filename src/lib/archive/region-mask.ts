/**
 * The mask PNG of a confirmed defect, in the original image's pixels as the dataset readers take
 * it (ground_truth/<label>/<name>_mask.png, 255 = defect): boxes are filled, a mask in original
 * pixels is copied, a mask in model (tensor) pixels is placed through the part's transform.
 */
import sharp from "sharp";
import { DefectError } from "../errors";
import type { Rect, Transform } from "../image/types";
import type { DefectRegion } from "../message";

const DEFECT = 255;

export interface ImageSize {
  width: number;
  height: number;
}

function fillBox(out: Uint8Array, size: ImageSize, box: Rect): void {
  // Every pixel the box touches (pixel i covers [i, i + 1)), clipped to the image.
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(size.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(size.height, Math.ceil(box.y + box.height));
  for (let y = y0; y < y1; y++) out.fill(DEFECT, y * size.width + x0, y * size.width + Math.max(x0, x1));
}

/** The original pixel centre (x + 0.5, y + 0.5) mapped into a model-space mask of mask.width x mask.height. */
function placeModelMask(out: Uint8Array, size: ImageSize, mask: { data: ArrayLike<number>; width: number; height: number }, t: Transform): void {
  const fx = mask.width / t.width;
  const fy = mask.height / t.height;
  for (let y = 0; y < size.height; y++) {
    const sy = y + 0.5;
    if (sy < t.roi.y || sy >= t.roi.y + t.roi.height) continue;
    const my = Math.floor(((sy - t.roi.y) * t.scaleY + t.offsetY) * fy);
    if (my < 0 || my >= mask.height) continue;
    for (let x = 0; x < size.width; x++) {
      const sx = x + 0.5;
      if (sx < t.roi.x || sx >= t.roi.x + t.roi.width) continue;
      const mx = Math.floor(((sx - t.roi.x) * t.scaleX + t.offsetX) * fx);
      if (mx >= 0 && mx < mask.width && mask.data[my * mask.width + mx] !== 0) out[y * size.width + x] = DEFECT;
    }
  }
}

/** One byte a pixel of the original image, 255 where the confirmed defect is. */
export function rasterizeRegion(region: DefectRegion, size: ImageSize, transform: Transform | undefined): Uint8Array {
  const out = new Uint8Array(size.width * size.height);
  if (region.kind === "boxes") {
    for (const box of region.boxes) fillBox(out, size, box);
    return out;
  }
  const mask = region.mask;
  if (mask.space === "model") {
    if (transform === undefined) {
      throw new DefectError("noTransformInput", "msg.confirm.mask is in model space but the part has no msg.transform to place it on the image", {});
    }
    placeModelMask(out, size, mask, transform);
    return out;
  }
  if (mask.width !== size.width || mask.height !== size.height) {
    throw new DefectError("maskSizeMismatch", `msg.confirm.mask is ${mask.width}x${mask.height} but the image is ${size.width}x${size.height}`, {
      mask: `${mask.width}x${mask.height}`,
      image: `${size.width}x${size.height}`,
    });
  }
  for (let i = 0; i < out.length; i++) if (mask.data[i] !== 0) out[i] = DEFECT;
  return out;
}

export function encodeMaskPng(pixels: Uint8Array, size: ImageSize): Promise<Buffer> {
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: size.width, height: size.height, channels: 1 } })
    .png()
    .toBuffer();
}

/** The displayed size of an encoded image (EXIF orientation applied), as msg.image reports it. */
export async function encodedImageSize(bytes: Buffer): Promise<ImageSize> {
  const { width, height } = (await sharp(bytes).metadata()).autoOrient;
  return { width, height };
}
