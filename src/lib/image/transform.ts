/**
 * Geometry shared by preprocessing (source -> tensor) and by everything that reports results
 * back on the camera image (tensor -> source). Keeping both directions in one place is what
 * guarantees that a box found in the tensor lands on the right source pixels.
 */
import { DefectError } from "../errors";
import type { Point, PreprocessOptions, Rect, ScoreMap, Transform } from "./types";

type Size = { width: number; height: number };

/** Bilinear sampling treats pixel i as a sample located at its centre, i + 0.5. */
const PIXEL_CENTRE = 0.5;

function describeRect(r: Rect): string {
  return `${r.x},${r.y},${r.width},${r.height}`;
}

function checkRoi(source: Size, roi: Rect): void {
  const integral = [roi.x, roi.y, roi.width, roi.height].every(Number.isInteger);
  const inside = roi.x >= 0 && roi.y >= 0 && roi.width >= 1 && roi.height >= 1 && roi.x + roi.width <= source.width && roi.y + roi.height <= source.height;
  if (!integral || !inside) {
    throw new DefectError(
      "invalidOption",
      `Option "roi" (${describeRect(roi)}) must be a region of whole pixels inside the ` + `${source.width}x${source.height} image.`,
      { option: "roi", value: describeRect(roi), imageWidth: source.width, imageHeight: source.height },
    );
  }
}

/**
 * Maps the ROI of an (already EXIF-oriented) source image onto a tensor of options.width x
 * options.height. Letterbox leaves a positive offset (the padding), center-crop a negative one.
 */
export function computeTransform(source: Size, roi: Rect | null, options: Pick<PreprocessOptions, "width" | "height" | "resize">): Transform {
  const region = roi ?? { x: 0, y: 0, width: source.width, height: source.height };
  checkRoi(source, region);
  const W = options.width;
  const H = options.height;
  let resizedW = W;
  let resizedH = H;
  let offsetX = 0;
  let offsetY = 0;
  if (options.resize === "letterbox") {
    const s = Math.min(W / region.width, H / region.height);
    // At least one pixel so that extreme aspect ratios still produce an image.
    resizedW = Math.min(W, Math.max(1, Math.round(region.width * s)));
    resizedH = Math.min(H, Math.max(1, Math.round(region.height * s)));
    offsetX = Math.floor((W - resizedW) / 2);
    offsetY = Math.floor((H - resizedH) / 2);
  } else if (options.resize === "center-crop") {
    const s = Math.max(W / region.width, H / region.height);
    // Never smaller than the tensor, or the crop would leave holes.
    resizedW = Math.max(W, Math.round(region.width * s));
    resizedH = Math.max(H, Math.round(region.height * s));
    // "0 -" rather than unary minus, which would give -0 when nothing is cropped.
    offsetX = 0 - Math.floor((resizedW - W) / 2);
    offsetY = 0 - Math.floor((resizedH - H) / 2);
  }
  return {
    source: { width: source.width, height: source.height },
    roi: { ...region },
    scaleX: resizedW / region.width,
    scaleY: resizedH / region.height,
    offsetX,
    offsetY,
    width: W,
    height: H,
  };
}

/** Size the ROI is resized to before padding (letterbox) or cropping (center-crop). */
export function resizedSize(t: Transform): Size {
  return { width: Math.round(t.roi.width * t.scaleX), height: Math.round(t.roi.height * t.scaleY) };
}

export function pointToTensor(t: Transform, p: Point): Point {
  return { x: (p.x - t.roi.x) * t.scaleX + t.offsetX, y: (p.y - t.roi.y) * t.scaleY + t.offsetY };
}

export function pointToSource(t: Transform, p: Point): Point {
  return { x: (p.x - t.offsetX) / t.scaleX + t.roi.x, y: (p.y - t.offsetY) / t.scaleY + t.roi.y };
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}

/** A tensor-space box in source pixels, clipped to the ROI (boxes may reach into letterbox padding). */
export function boxToSource(t: Transform, r: Rect): Rect {
  const a = pointToSource(t, { x: r.x, y: r.y });
  const b = pointToSource(t, { x: r.x + r.width, y: r.y + r.height });
  const x0 = clamp(a.x, t.roi.x, t.roi.x + t.roi.width);
  const y0 = clamp(a.y, t.roi.y, t.roi.y + t.roi.height);
  const x1 = clamp(b.x, t.roi.x, t.roi.x + t.roi.width);
  const y1 = clamp(b.y, t.roi.y, t.roi.y + t.roi.height);
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

/** Per-output-pixel sample indices and weights along one axis, so the 2-D loop only reads tables. */
interface AxisSamples {
  lo: Int32Array;
  hi: Int32Array;
  weight: Float64Array;
}

/** One axis of a Transform: source pixels -> tensor pixels -> score-map pixels. */
interface Axis {
  /** Source pixels in the ROI along this axis. */
  count: number;
  scale: number;
  offset: number;
  /** Length of the resized ROI in the tensor (before padding or cropping). */
  resized: number;
  tensorSize: number;
  mapSize: number;
}

/**
 * Bilinear samples for every ROI pixel along one axis. Maps may be coarser than the tensor;
 * samples are clamped to the non-padded area so letterbox padding never bleeds into the result.
 */
function axisSamples(axis: Axis): AxisSamples {
  const { count, scale, offset, mapSize } = axis;
  const mapPerTensor = mapSize / axis.tensorSize;
  const a = Math.max(0, offset) * mapPerTensor;
  const b = Math.min(axis.tensorSize, offset + axis.resized) * mapPerTensor;
  // Map cells whose centre lies inside the valid area.
  let first = clamp(Math.ceil(a - PIXEL_CENTRE), 0, mapSize - 1);
  let last = clamp(Math.ceil(b - PIXEL_CENTRE) - 1, 0, mapSize - 1);
  if (first > last) {
    first = clamp(Math.floor((a + b) / 2), 0, mapSize - 1);
    last = first;
  }
  const lo = new Int32Array(count);
  const hi = new Int32Array(count);
  const weight = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const tensorCoord = (i + PIXEL_CENTRE) * scale + offset;
    const q = clamp(tensorCoord * mapPerTensor - PIXEL_CENTRE, first, last);
    const i0 = Math.floor(q);
    lo[i] = i0;
    hi[i] = Math.min(i0 + 1, last);
    weight[i] = q - i0;
  }
  return { lo, hi, weight };
}

/**
 * Resamples a score map that covers the tensor (at any resolution) onto the full source image:
 * bilinear between map-pixel centres, clamped to the non-padded area; pixels outside the ROI
 * get `fill`.
 */
export function mapToSource(t: Transform, map: ScoreMap, fill = 0): ScoreMap {
  if (!(map.width >= 1 && map.height >= 1 && map.data.length === map.width * map.height)) {
    throw new DefectError("invalidOption", `Score map of ${map.width}x${map.height} must hold ${map.width * map.height} values, got ${map.data.length}.`, {
      option: "map",
      value: `${map.width}x${map.height}`,
    });
  }
  const { width: sw, height: sh } = t.source;
  const out = new Float32Array(sw * sh);
  out.fill(fill);
  const resized = resizedSize(t);
  const cols = axisSamples({
    count: t.roi.width,
    scale: t.scaleX,
    offset: t.offsetX,
    resized: resized.width,
    tensorSize: t.width,
    mapSize: map.width,
  });
  const rows = axisSamples({
    count: t.roi.height,
    scale: t.scaleY,
    offset: t.offsetY,
    resized: resized.height,
    tensorSize: t.height,
    mapSize: map.height,
  });
  const src = map.data;
  const mw = map.width;
  for (let j = 0; j < t.roi.height; j++) {
    const top = rows.lo[j]! * mw;
    const bottom = rows.hi[j]! * mw;
    const fy = rows.weight[j]!;
    let o = (t.roi.y + j) * sw + t.roi.x;
    for (let i = 0; i < t.roi.width; i++, o++) {
      const x0 = cols.lo[i]!;
      const x1 = cols.hi[i]!;
      const fx = cols.weight[i]!;
      const upper = src[top + x0]! + (src[top + x1]! - src[top + x0]!) * fx;
      const lower = src[bottom + x0]! + (src[bottom + x1]! - src[bottom + x0]!) * fx;
      out[o] = upper + (lower - upper) * fy;
    }
  }
  return { data: out, width: sw, height: sh };
}
