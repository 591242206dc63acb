/**
 * Local registration: a smooth field of shifts on a grid of cells, because scanned boards are
 * not displaced uniformly (DeepPCB pairs drift by 2-4 px within one image, sometimes across a
 * few dozen rows, which no single shift fixes). Each cell's shift minimises the sum of squared
 * differences over a window of neighbouring cells, then the field is smoothed
 * (field-smoothing.ts). A schedule of passes goes coarse to fine: by default an integer search
 * at half resolution with wide windows for reach, then one gradient step at full resolution
 * for sub-pixel precision.
 */
import { DefectError } from "../../errors";
import { downsamplePlane } from "./align";
import { cellModels, smoothIncrements, type CellModels } from "./field-smoothing";
import { gaussianBlur } from "./filters";
import type { GrayPlane } from "./plane";
import { uniformField, type ShiftField } from "./shift-field";
import { warpByField } from "./warp";

export interface AlignmentPass {
  /**
   * "search" scores every integer shift within `radius` (robust, reaches far); "gradient" takes
   * one Lucas-Kanade step from the image gradients (precise below a pixel, where the search
   * suffers from interpolation bias towards whole pixels).
   */
  method: "search" | "gradient";
  /** Downsampling factor of this pass (1 = full resolution). */
  factor: number;
  /** Integer search radius, in pixels of this pass; for "gradient", the largest step taken. */
  radius: number;
  /** Matching window radius in cells: the window spans 2r+1 cells per side. */
  windowCells: number;
  /** Weight of neighbour agreement relative to a typical cell's confidence. */
  smoothness: number;
  /** Blur before matching, in pixels of this pass; default the options' blurSigma. */
  blurSigma?: number;
}

export interface LocalAlignmentOptions {
  /** Spacing of the shift grid in full-resolution pixels (divisible by every pass factor). */
  cellSize: number;
  /** Blur before matching, in pixels of each pass: makes the cost smooth enough to interpolate. */
  blurSigma: number;
  passes: AlignmentPass[];
}

export const DEFAULT_LOCAL_ALIGNMENT: LocalAlignmentOptions = {
  cellSize: 16,
  blurSigma: 1,
  passes: [
    { method: "search", factor: 2, radius: 2, windowCells: 2, smoothness: 0.2 },
    // No blur at full resolution: the gradient step needs none and it is the costliest filter here.
    { method: "gradient", factor: 1, radius: 1, windowCells: 1, smoothness: 0.05, blurSigma: 0 },
  ],
};

const MAX_RADIUS = 8;
const MAX_FACTOR = 8;

function check(options: LocalAlignmentOptions): void {
  const bad = (option: string, value: number, rule: string): DefectError =>
    new DefectError("invalidOption", `Option "${option}" must be ${rule}, got ${value}.`, { option, value: String(value) });
  const { cellSize, blurSigma, passes } = options;
  if (!(Number.isInteger(cellSize) && cellSize >= 4)) throw bad("cellSize", cellSize, "a whole number of at least 4");
  if (!(Number.isFinite(blurSigma) && blurSigma >= 0)) throw bad("blurSigma", blurSigma, "at least 0");
  if (!Array.isArray(passes) || passes.length === 0) throw bad("passes", Array.isArray(passes) ? 0 : Number.NaN, "a list of at least one pass");
  for (const pass of passes) {
    const { method, factor, radius, windowCells, smoothness } = pass;
    if (method !== "search" && method !== "gradient") {
      throw new DefectError("invalidOption", `Option "method" must be "search" or "gradient", got ${JSON.stringify(method)}.`, {
        option: "method",
        value: String(method),
      });
    }
    if (!(Number.isInteger(factor) && factor >= 1 && factor <= MAX_FACTOR && cellSize % factor === 0)) {
      throw bad("factor", factor, `a whole number from 1 to ${MAX_FACTOR} that divides cellSize ${cellSize}`);
    }
    if (!(Number.isInteger(radius) && radius >= 1 && radius <= MAX_RADIUS)) throw bad("radius", radius, `a whole number from 1 to ${MAX_RADIUS}`);
    if (!(Number.isInteger(windowCells) && windowCells >= 0)) throw bad("windowCells", windowCells, "a whole number of at least 0");
    if (!(Number.isFinite(smoothness) && smoothness >= 0)) throw bad("smoothness", smoothness, "at least 0");
    if (pass.blurSigma !== undefined && !(Number.isFinite(pass.blurSigma) && pass.blurSigma >= 0)) throw bad("blurSigma", pass.blurSigma, "at least 0");
  }
}

/** The plane with `pad` repeated border pixels on every side, so shifted reads need no bounds checks. */
function padPlane(plane: GrayPlane, pad: number): { data: Float32Array; stride: number } {
  const { width, height } = plane;
  const stride = width + 2 * pad;
  const data = new Float32Array(stride * (height + 2 * pad));
  for (let y = -pad; y < height + pad; y++) {
    const sy = y < 0 ? 0 : y >= height ? height - 1 : y;
    const dst = (y + pad) * stride;
    const src = sy * width;
    const first = plane.data[src] as number;
    const last = plane.data[src + width - 1] as number;
    for (let k = 0; k < pad; k++) {
      data[dst + k] = first;
      data[dst + pad + width + k] = last;
    }
    data.set(plane.data.subarray(src, src + width), dst + pad);
  }
  return { data, stride };
}

/**
 * Sums of squared differences per cell for every integer candidate shift (candidate-major).
 * test(p) ~ reference(p - s); partners outside the image repeat the border, so every candidate
 * is scored on the same pixels (skipping them would favour large shifts at the borders).
 */
function cellCosts(test: GrayPlane, warped: GrayPlane, cell: number, cols: number, rows: number, radius: number): Float64Array {
  const side = 2 * radius + 1;
  const cells = cols * rows;
  const costs = new Float64Array(side * side * cells);
  const { width, height } = test;
  const t = test.data;
  const { data: r, stride } = padPlane(warped, radius);
  for (let sy = -radius; sy <= radius; sy++) {
    for (let sx = -radius; sx <= radius; sx++) {
      const base = ((sy + radius) * side + (sx + radius)) * cells;
      for (let y = 0; y < height; y++) {
        const cellRow = base + Math.floor(y / cell) * cols;
        const tRow = y * width;
        const rRow = (y - sy + radius) * stride + radius - sx;
        for (let q = 0, x = 0; q < cols; q++) {
          const end = Math.min(width, x + cell);
          let sum = 0;
          for (; x < end; x++) {
            const d = (t[tRow + x] as number) - (r[rRow + x] as number);
            sum += d * d;
          }
          costs[cellRow + q] = (costs[cellRow + q] as number) + sum;
        }
      }
    }
  }
  return costs;
}

/** Box sum over (2w+1)^2 cells of one candidate's cost grid, in place into `out`. */
function windowSums(costs: Float64Array, offset: number, cols: number, rows: number, w: number, out: Float64Array): void {
  const tmp = new Float64Array(cols * rows);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let k = Math.max(0, x - w); k <= Math.min(cols - 1, x + w); k++) s += costs[offset + y * cols + k] as number;
      tmp[y * cols + x] = s;
    }
  }
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let s = 0;
      for (let k = Math.max(0, y - w); k <= Math.min(rows - 1, y + w); k++) s += tmp[k * cols + x] as number;
      out[y * cols + x] = s;
    }
  }
}

/** Blurred planes per downsampling factor and blur, shared by the passes that use the same. */
type Pyramid = Map<string, { reference: GrayPlane; test: GrayPlane }>;

function level(pyramid: Pyramid, reference: GrayPlane, test: GrayPlane, factor: number, sigma: number): { reference: GrayPlane; test: GrayPlane } {
  const key = `${factor}/${sigma}`;
  let entry = pyramid.get(key);
  if (!entry) {
    entry = {
      reference: gaussianBlur(downsamplePlane(reference, factor), sigma),
      test: gaussianBlur(downsamplePlane(test, factor), sigma),
    };
    pyramid.set(key, entry);
  }
  return entry;
}

/** Window sums of several per-cell channels (channel-major, `cells` values each). */
function windowChannels(channels: Float64Array, count: number, cols: number, rows: number, w: number): Float64Array {
  const cells = cols * rows;
  const out = new Float64Array(count * cells);
  const scratch = new Float64Array(cells);
  for (let k = 0; k < count; k++) {
    windowSums(channels, k * cells, cols, rows, w, scratch);
    out.set(scratch, k * cells);
  }
  return out;
}

/** Quadratic cost models from every integer candidate shift within `radius`. */
function searchModels(test: GrayPlane, warped: GrayPlane, cell: number, cols: number, rows: number, pass: AlignmentPass): CellModels {
  const side = 2 * pass.radius + 1;
  const costs = cellCosts(test, warped, cell, cols, rows, pass.radius);
  const windowed = windowChannels(costs, side * side, cols, rows, pass.windowCells);
  return cellModels(windowed, cols * rows, pass.radius, (2 * pass.windowCells + 1) ** 2 * cell * cell);
}

/** Gradient-step channels: sums of gx^2, gx*gy, gy^2, e*gx, e*gy per cell (e = test - warped). */
const GRADIENT_CHANNELS = 5;

/**
 * Quadratic cost models from image gradients: with test(p) ~ warped(p - s) ~ warped(p) - s.grad,
 * the squared error's gradient at s = 0 is 2 sum(e grad) and its Hessian 2 sum(grad grad').
 */
function gradientModels(test: GrayPlane, warped: GrayPlane, cell: number, cols: number, rows: number, pass: AlignmentPass): CellModels {
  const { width, height } = test;
  const cells = cols * rows;
  const sums = new Float64Array(GRADIENT_CHANNELS * cells);
  const w = warped.data;
  for (let y = 0; y < height; y++) {
    const up = (y > 0 ? y - 1 : y) * width;
    const down = (y < height - 1 ? y + 1 : y) * width;
    const row = y * width;
    const cellRow = Math.floor(y / cell) * cols;
    for (let x = 0; x < width; x++) {
      const gx = ((w[row + (x < width - 1 ? x + 1 : x)] as number) - (w[row + (x > 0 ? x - 1 : x)] as number)) / 2;
      const gy = ((w[down + x] as number) - (w[up + x] as number)) / 2;
      const e = (test.data[row + x] as number) - (w[row + x] as number);
      const c = cellRow + ((x / cell) | 0);
      sums[c] = (sums[c] as number) + gx * gx;
      sums[cells + c] = (sums[cells + c] as number) + gx * gy;
      sums[2 * cells + c] = (sums[2 * cells + c] as number) + gy * gy;
      sums[3 * cells + c] = (sums[3 * cells + c] as number) + e * gx;
      sums[4 * cells + c] = (sums[4 * cells + c] as number) + e * gy;
    }
  }
  const windowed = windowChannels(sums, GRADIENT_CHANNELS, cols, rows, pass.windowCells);
  const scale = 2 / ((2 * pass.windowCells + 1) ** 2 * cell * cell);
  const take = (k: number): Float64Array => Float64Array.from(windowed.subarray(k * cells, (k + 1) * cells), (v) => v * scale);
  return { cx: new Float64Array(cells), cy: new Float64Array(cells), hxx: take(0), hxy: take(1), hyy: take(2), gx: take(3), gy: take(4) };
}

/** One pass: refines `field` (full-resolution pixels) in place. */
function refine(planes: { reference: GrayPlane; test: GrayPlane }, field: ShiftField, pass: AlignmentPass): void {
  const { reference, test } = planes;
  const warped = warpByField(reference, field, 1 / pass.factor);
  const cell = field.cellSize / pass.factor;
  const { cols, rows } = field;
  const models = pass.method === "search" ? searchModels(test, warped, cell, cols, rows, pass) : gradientModels(test, warped, cell, cols, rows, pass);
  const step = smoothIncrements(models, cols, rows, pass.smoothness, pass.radius);
  for (let c = 0; c < cols * rows; c++) {
    field.dx[c] = (field.dx[c] as number) + (step.dx[c] as number) * pass.factor;
    field.dy[c] = (field.dy[c] as number) + (step.dy[c] as number) * pass.factor;
  }
}

/** Refines a global shift into a smooth field of local shifts. */
export function estimateShiftField(
  reference: GrayPlane,
  test: GrayPlane,
  initial: { dx: number; dy: number },
  options: LocalAlignmentOptions = DEFAULT_LOCAL_ALIGNMENT,
): ShiftField {
  check(options);
  const field = uniformField(test.width, test.height, options.cellSize, initial.dx, initial.dy);
  const pyramid: Pyramid = new Map();
  for (const pass of options.passes) refine(level(pyramid, reference, test, pass.factor, pass.blurSigma ?? options.blurSigma), field, pass);
  return field;
}
