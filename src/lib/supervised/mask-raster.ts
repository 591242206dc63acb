/**
 * The numeric core of YOLO-seg masks: mask logits from prototypes over a window, and their
 * bilinear (align_corners=False) resampling onto any pixel grid that maps affinely onto the
 * tensor, thresholded. Typed arrays and flat loops only: a 1080p mask is millions of pixels.
 */

/** Pixel i covers [i, i + 1); its sample sits at the centre. */
export const PIXEL_CENTRE = 0.5;
/** A mask pixel is set when the interpolated logit is above this (sigmoid > 0.5). */
const LOGIT_THRESHOLD = 0;
const PLANES_A_PASS = 4;

/** Prototype planes [count, height, width], row-major. */
export interface Prototypes {
  data: Float32Array;
  count: number;
  width: number;
  height: number;
}

/** Per-output-pixel proto sample positions along one axis (two bilinear taps and the weight of the second). */
export interface AxisTable {
  lo: Int32Array;
  hi: Int32Array;
  weight: Float32Array;
}

/** A half-open range of output pixels [start, end). */
export interface Span {
  start: number;
  end: number;
}

export interface Crop {
  cols: Span;
  rows: Span;
}

/** Coefficients · prototypes over a window of proto pixels, row-major. */
export interface LogitWindow {
  x0: number;
  y0: number;
  width: number;
  height: number;
  data: Float32Array;
}

export interface TensorBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Pixels of [0, size) whose centre lies in [a, b). */
export function centresIn(a: number, b: number, size: number): Span {
  const start = Math.max(0, Math.ceil(a - PIXEL_CENTRE));
  const end = Math.min(size, Math.ceil(b - PIXEL_CENTRE));
  return { start, end: Math.max(start, end) };
}

/**
 * Bilinear taps into the prototypes for each of `count` output pixels along one axis: output
 * pixel i's centre lies at tensor coordinate `(i + 0.5) * scale + offset`; `ratio` is proto
 * pixels per tensor pixel. Taps clamp at the border, as torch's interpolate does.
 */
export function axisTable(count: number, scale: number, offset: number, ratio: number, protoSize: number): AxisTable {
  const lo = new Int32Array(count);
  const hi = new Int32Array(count);
  const weight = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const tensorCoord = (i + PIXEL_CENTRE) * scale + offset;
    const q = Math.min(protoSize - 1, Math.max(0, tensorCoord * ratio - PIXEL_CENTRE));
    const f = Math.floor(q);
    lo[i] = f;
    hi[i] = Math.min(f + 1, protoSize - 1);
    weight[i] = q - f;
  }
  return { lo, hi, weight };
}

/** Proto pixels [first, last] that samples at centres in [a, b) (tensor pixels) can read, one spare each side. */
function protoRange(a: number, b: number, ratio: number, protoSize: number): [number, number] {
  const first = Math.max(0, Math.floor(a * ratio - PIXEL_CENTRE) - 1);
  const last = Math.min(protoSize - 1, Math.floor(b * ratio - PIXEL_CENTRE) + 1);
  return [first, Math.max(first, last)];
}

/**
 * Mask logits over the proto window under the box: a (1 x count) by (count x window) product,
 * accumulated one prototype at a time so the inner loop runs over contiguous memory.
 */
export function logitWindow(proto: Prototypes, coefficients: Float32Array, box: TensorBox, rx: number, ry: number): LogitWindow {
  const [x0, x1] = protoRange(box.x1, box.x2, rx, proto.width);
  const [y0, y1] = protoRange(box.y1, box.y2, ry, proto.height);
  const width = x1 - x0 + 1;
  const height = y1 - y0 + 1;
  const data = new Float32Array(width * height);
  const plane = proto.width * proto.height;
  const p = proto.data;
  let k = 0;
  // Four prototypes a pass: a quarter of the loads and stores of the accumulator row.
  for (; k + PLANES_A_PASS <= proto.count; k += PLANES_A_PASS) {
    const c0 = coefficients[k]!;
    const c1 = coefficients[k + 1]!;
    const c2 = coefficients[k + 2]!;
    const c3 = coefficients[k + 3]!;
    for (let y = 0; y < height; y++) {
      const f0 = k * plane + (y0 + y) * proto.width + x0;
      const f1 = f0 + plane;
      const f2 = f1 + plane;
      const f3 = f2 + plane;
      const to = y * width;
      for (let x = 0; x < width; x++) {
        data[to + x] = data[to + x]! + c0 * p[f0 + x]! + c1 * p[f1 + x]! + c2 * p[f2 + x]! + c3 * p[f3 + x]!;
      }
    }
  }
  for (; k < proto.count; k++) {
    const c = coefficients[k]!;
    for (let y = 0; y < height; y++) {
      const from = k * plane + (y0 + y) * proto.width + x0;
      const to = y * width;
      for (let x = 0; x < width; x++) data[to + x] = data[to + x]! + c * p[from + x]!;
    }
  }
  return { x0, y0, width, height, data };
}

/**
 * Sets to 1 the target pixels in the crop whose interpolated logit is above the threshold.
 * Bilinear is separable: each window row is first resampled to the crop's columns, so a pixel
 * costs one blend of two precomputed rows instead of four reads and three blends.
 */
export function rasterise(
  window: LogitWindow,
  cols: AxisTable,
  rows: AxisTable,
  crop: Crop,
  stride: number,
  target: Uint8Array,
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  const { start: cx0, end: cx1 } = crop.cols;
  const cropWidth = cx1 - cx0;
  if (cropWidth === 0 || crop.rows.end === crop.rows.start) return;
  const d = window.data;
  const ww = window.width;
  const across = new Float32Array(window.height * cropWidth);
  for (let y = 0; y < window.height; y++) {
    const row = y * ww;
    const out = y * cropWidth;
    for (let x = cx0; x < cx1; x++) {
      const a = d[row + cols.lo[x]! - window.x0]!;
      const b = d[row + cols.hi[x]! - window.x0]!;
      across[out + x - cx0] = a + (b - a) * cols.weight[x]!;
    }
  }
  for (let y = crop.rows.start; y < crop.rows.end; y++) {
    const top = (rows.lo[y]! - window.y0) * cropWidth;
    const bottom = (rows.hi[y]! - window.y0) * cropWidth;
    const wy = rows.weight[y]!;
    // `origin` is the target's top-left pixel: box-local targets hold only the crop.
    const out = (y - origin.y) * stride + cx0 - origin.x;
    for (let x = 0; x < cropWidth; x++) {
      const a = across[top + x]!;
      if (a + (across[bottom + x]! - a) * wy > LOGIT_THRESHOLD) target[out + x] = 1;
    }
  }
}

/** Raises the map to `score` where the mask is set, inside the crop. */
export function raiseUnderMask(map: Float32Array, mask: Uint8Array, crop: Crop, stride: number, score: number): void {
  for (let y = crop.rows.start; y < crop.rows.end; y++) {
    for (let i = y * stride + crop.cols.start, end = y * stride + crop.cols.end; i < end; i++) {
      if (mask[i] === 1 && score > map[i]!) map[i] = score;
    }
  }
}

/** Zeroes the crop of a scratch mask, so the next instance starts clean without a full clear. */
export function clearCrop(mask: Uint8Array, crop: Crop, stride: number): void {
  for (let y = crop.rows.start; y < crop.rows.end; y++) mask.fill(0, y * stride + crop.cols.start, y * stride + crop.cols.end);
}

/** The crop of a full-width mask, copied out as a box-local InstanceMask body. */
export function copyCrop(mask: Uint8Array, crop: Crop, stride: number): Uint8Array {
  const width = crop.cols.end - crop.cols.start;
  const out = new Uint8Array(width * (crop.rows.end - crop.rows.start));
  for (let y = crop.rows.start; y < crop.rows.end; y++) {
    out.set(mask.subarray(y * stride + crop.cols.start, y * stride + crop.cols.end), (y - crop.rows.start) * width);
  }
  return out;
}
