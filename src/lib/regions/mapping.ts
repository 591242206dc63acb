/**
 * Placing regions found on a mask grid onto the original image. A grid is either the original
 * image itself (identity placement) or covers the model tensor at some resolution, placed by the
 * preprocess Transform; one code path serves both, so original-space results cannot drift.
 */
import { boxToSource, pointToSource, resizedSize } from "../image/transform";
import type { Transform } from "../image/types";
import type { Region, Size } from "./types";

/** Reported coordinates and areas are rounded to 1/1000 pixel: exact enough, and readable in a debug pane. */
const ROUNDING = 1000;
const PIXEL_CENTRE = 0.5;

function round(value: number): number {
  return Math.round(value * ROUNDING) / ROUNDING;
}

/** The placement of data that is already on the original image's pixels. */
export function identityTransform(size: Size): Transform {
  return {
    source: { width: size.width, height: size.height },
    roi: { x: 0, y: 0, width: size.width, height: size.height },
    scaleX: 1,
    scaleY: 1,
    offsetX: 0,
    offsetY: 0,
    width: size.width,
    height: size.height,
  };
}

/** Index range [first, end) of grid pixels whose centres fall in [lo, hi) of the tensor axis. */
function axisRange(lo: number, hi: number, gridPerTensor: number, gridSize: number): [number, number] {
  const first = Math.max(0, Math.ceil(lo * gridPerTensor - PIXEL_CENTRE));
  const end = Math.min(gridSize, Math.ceil(hi * gridPerTensor - PIXEL_CENTRE));
  return [first, Math.max(first, end)];
}

/** Grid pixels that show image content: letterbox padding is excluded, it has no original pixels. */
export interface ContentArea {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export function contentArea(t: Transform, grid: Size): ContentArea {
  const resized = resizedSize(t);
  const [x0, x1] = axisRange(Math.max(0, t.offsetX), Math.min(t.width, t.offsetX + resized.width), grid.width / t.width, grid.width);
  const [y0, y1] = axisRange(Math.max(0, t.offsetY), Math.min(t.height, t.offsetY + resized.height), grid.height / t.height, grid.height);
  return { x0, x1, y0, y1 };
}

export function coversGrid(area: ContentArea, grid: Size): boolean {
  return area.x0 === 0 && area.y0 === 0 && area.x1 === grid.width && area.y1 === grid.height;
}

/**
 * A region in grid pixels -> original pixels: the box through the transform (clipped to the
 * ROI), the centroid likewise, and the area scaled by how many original pixels one grid pixel
 * stands for.
 */
export function regionToSource(t: Transform, grid: Size, region: Region): Region {
  const gx = t.width / grid.width;
  const gy = t.height / grid.height;
  const box = boxToSource(t, { x: region.x * gx, y: region.y * gy, width: region.width * gx, height: region.height * gy });
  const centroid = pointToSource(t, { x: region.centroid.x * gx, y: region.centroid.y * gy });
  const sourcePixelsPerGridPixel = (gx * gy) / (t.scaleX * t.scaleY);
  return {
    x: round(box.x),
    y: round(box.y),
    width: round(box.width),
    height: round(box.height),
    area: round(region.area * sourcePixelsPerGridPixel),
    centroid: { x: round(centroid.x), y: round(centroid.y) },
    maxScore: region.maxScore,
    meanScore: region.meanScore,
  };
}

/** Index range [start, start + length) of `size` pixels, rounded from continuous edges. */
function scaledSpan(start: number, length: number, factor: number, size: number): [number, number] {
  const a = Math.min(size - 1, Math.max(0, Math.round(start * factor)));
  const b = Math.min(size, Math.max(a + 1, Math.round((start + length) * factor)));
  return [a, b - a];
}

/**
 * The transform of a resized copy of the source image (e.g. a small overlay) to the same
 * tensor. mapToSource needs a ROI of whole pixels, so its edges are rounded (under one pixel
 * of the copy); the scale is then set so the ROI still fills the same tensor span.
 */
export function scaleTransform(t: Transform, target: Size): Transform {
  const fx = target.width / t.source.width;
  const fy = target.height / t.source.height;
  const [x, width] = scaledSpan(t.roi.x, t.roi.width, fx, target.width);
  const [y, height] = scaledSpan(t.roi.y, t.roi.height, fy, target.height);
  const resized = resizedSize(t);
  return {
    source: { width: target.width, height: target.height },
    roi: { x, y, width, height },
    scaleX: resized.width / width,
    scaleY: resized.height / height,
    offsetX: t.offsetX,
    offsetY: t.offsetY,
    width: t.width,
    height: t.height,
  };
}
