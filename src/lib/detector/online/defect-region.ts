/**
 * Where a confirmed defect is, on the patch grid of the part it confirms: boxes (original image
 * pixels through the part's msg.transform, or tensor pixels when it had none) or a binary mask
 * (`space` "original" through the transform, or "model" = tensor pixels) are drawn onto the
 * tensor's pixels, and a grid cell counts as defect when any of its pixels is (defect-bank.ts
 * patchGridMask: defects are often smaller than a cell). A box covers every pixel it overlaps,
 * pixel i spanning [i, i + 1) as in msg.transform; a mask pixel is such a unit box.
 *
 * Checked here because only the part knows its image: a box outside the image, a mask of another
 * size, and a region the model never sees (outside the ROI, or cropped away) are refused with an
 * error that names them, before anything is learned.
 */
import { patchGridMask } from "../../anomaly/patchcore/defect-bank";
import { DefectError } from "../../errors";
import { tensorSize } from "../../image/tensor";
import { pointToTensor } from "../../image/transform";
import type { BinaryMask, Rect, Tensor, Transform } from "../../image/types";
import type { DefectRegion } from "../../message";

/** What a part was inspected as: its tensor's size and how the tensor was cut from the image. */
export interface PartGeometry {
  width: number;
  height: number;
  transform: Transform | undefined;
}

export function partGeometry(sample: { tensor: Tensor; transform?: Transform | undefined }): PartGeometry {
  const { width, height } = tensorSize(sample.tensor);
  return { width, height, transform: sample.transform };
}

/** Boxes from mask to region are rounded to 0.001 px: an edge this close to the image's counts as on it. */
const EDGE_TOLERANCE = 1e-3;

function imageOf(geometry: PartGeometry): { width: number; height: number } {
  return geometry.transform?.source ?? { width: geometry.width, height: geometry.height };
}

function whose(geometry: PartGeometry): string {
  return geometry.transform === undefined ? "tensor pixels: the part came without msg.transform" : "original image pixels, through msg.transform";
}

/**
 * Marks the tensor pixels a source rectangle [x0, x1) x [y0, y1) overlaps, after clipping it to
 * the transform's ROI (what lies outside it never reaches the tensor); false when none is marked.
 */
function markRect(pixels: Uint8Array, geometry: PartGeometry, x0: number, y0: number, x1: number, y1: number): boolean {
  const { width, height, transform } = geometry;
  let a = { x: x0, y: y0 };
  let b = { x: x1, y: y1 };
  if (transform !== undefined) {
    const roi = transform.roi;
    a = pointToTensor(transform, { x: Math.max(x0, roi.x), y: Math.max(y0, roi.y) });
    b = pointToTensor(transform, { x: Math.min(x1, roi.x + roi.width), y: Math.min(y1, roi.y + roi.height) });
  }
  const left = Math.max(0, Math.floor(a.x));
  const top = Math.max(0, Math.floor(a.y));
  const right = Math.min(width, Math.ceil(b.x));
  const bottom = Math.min(height, Math.ceil(b.y));
  if (right <= left || bottom <= top || b.x <= a.x || b.y <= a.y) return false;
  for (let y = top; y < bottom; y++) pixels.fill(1, y * width + left, y * width + right);
  return true;
}

function outOfView(option: string, shown: string): DefectError {
  return new DefectError(
    "invalidOption",
    `${option} (${shown}) lies outside the part of the image the model sees (the ROI, padding or crop of msg.transform)`,
    {
      option,
      value: `${shown}: outside the part of the image the model sees`,
    },
  );
}

function boxPixels(boxes: readonly Rect[], geometry: PartGeometry): Uint8Array {
  const image = imageOf(geometry);
  const pixels = new Uint8Array(geometry.width * geometry.height);
  boxes.forEach((box, i) => {
    const option = `msg.confirm.boxes[${i}]`;
    const shown = `x ${box.x}, y ${box.y}, ${box.width} x ${box.height}`;
    const inside =
      box.x >= -EDGE_TOLERANCE &&
      box.y >= -EDGE_TOLERANCE &&
      box.x + box.width <= image.width + EDGE_TOLERANCE &&
      box.y + box.height <= image.height + EDGE_TOLERANCE;
    if (!inside) {
      throw new DefectError("invalidOption", `${option} (${shown}) is not inside the ${image.width} x ${image.height} image (${whose(geometry)})`, {
        option,
        value: `${shown}, not inside the ${image.width} x ${image.height} image`,
      });
    }
    if (!markRect(pixels, geometry, box.x, box.y, box.x + box.width, box.y + box.height)) throw outOfView(option, shown);
  });
  return pixels;
}

function maskPixels(mask: BinaryMask, geometry: PartGeometry): Uint8Array {
  // Without a transform the original image is the tensor, as for the threshold node's maps.
  const through = mask.space === "original" ? geometry.transform : undefined;
  const expected = through?.source ?? { width: geometry.width, height: geometry.height };
  if (mask.width !== expected.width || mask.height !== expected.height) {
    const what = through !== undefined ? "original image" : mask.space === "model" ? "tensor (space model)" : "tensor (the part came without msg.transform)";
    throw new DefectError("maskSizeMismatch", `msg.confirm.mask is ${mask.width} x ${mask.height} but the ${what} is ${expected.width} x ${expected.height}`, {
      expected: `${expected.width}x${expected.height}`,
      actual: `${mask.width}x${mask.height}`,
    });
  }
  const pixels = new Uint8Array(geometry.width * geometry.height);
  if (through === undefined) {
    for (let i = 0; i < pixels.length; i++) pixels[i] = (mask.data[i] as number) !== 0 ? 1 : 0;
    return pixels;
  }
  let any = false;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if ((mask.data[y * mask.width + x] as number) !== 0 && markRect(pixels, geometry, x, y, x + 1, y + 1)) any = true;
    }
  }
  if (!any) throw outOfView("msg.confirm.mask", `${mask.width} x ${mask.height}`);
  return pixels;
}

/** The region on the part's patch grid (1 = defect cell), gridWidth x gridHeight. */
export function regionGrid(region: DefectRegion, geometry: PartGeometry, gridWidth: number, gridHeight: number): Uint8Array {
  const pixels = region.kind === "boxes" ? boxPixels(region.boxes, geometry) : maskPixels(region.mask, geometry);
  return patchGridMask(pixels, geometry.width, geometry.height, gridWidth, gridHeight);
}
