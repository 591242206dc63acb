/**
 * Local registration: a smooth field of shifts on a grid of cells, because scanned boards are
 * stretched unevenly (DeepPCB pairs drift by 2-4 px across one image, which no single shift
 * fixes). Each cell's shift minimises the sum of squared differences of blurred images over a
 * window of neighbouring cells; matching whole windows rather than single cells lets a cell
 * with only horizontal tracks borrow its horizontal shift from neighbours, and lets blank cells
 * follow the field around them. Coarse to fine: half resolution first for reach, then full
 * resolution for sub-pixel precision.
 */
import { DefectError } from "../../errors";
import { downsamplePlane } from "./align";
import { gaussianBlur } from "./filters";
import type { GrayPlane } from "./plane";
import { warpPlane, type DisplacementField } from "./warp";

export interface LocalAlignmentOptions {
  /** Spacing of the shift grid in pixels (divisible by 2^(levels-1)). */
  cellSize: number;
  /** Matching window radius in cells: the window spans 2r+1 cells per side. */
  windowCells: number;
  /** Integer search radius on the coarser levels, in that level's pixels. */
  searchRadius: number;
  /** Integer search radius at full resolution: the coarse levels leave well under a pixel to find. */
  refineRadius: number;
  /** Pyramid levels, coarsest first; each halves the resolution. */
  levels: number;
  /** Blur before matching, in pixels of each level: makes the cost smooth enough to interpolate. */
  blurSigma: number;
  /** Weight of neighbour agreement relative to a typical cell's confidence. */
  smoothness: number;
}

export const DEFAULT_LOCAL_ALIGNMENT: LocalAlignmentOptions = {
  cellSize: 16,
  windowCells: 2,
  searchRadius: 2,
  refineRadius: 1,
  levels: 2,
  blurSigma: 1,
  smoothness: 0.2,
};

/** Shift of the test image relative to the reference at each cell centre: test(p) = reference(p - shift). */
export interface ShiftField {
  cellSize: number;
  cols: number;
  rows: number;
  dx: Float32Array;
  dy: Float32Array;
}

/** Pull of each increment towards zero, relative to a typical cell's confidence: keeps blank areas still. */
const PRIOR_WEIGHT = 0.01;
/** How far past the searched square an extrapolated minimum may lie, in pixels of the level. */
const STEP_MARGIN = 0.5;
/** Which cell confidence counts as typical when weighing neighbours against data. */
const CONFIDENCE_QUANTILE = 0.9;
/** Jacobi sweeps of the smoothing; information travels one cell a sweep. */
const SMOOTHING_SWEEPS = 40;

function check(options: LocalAlignmentOptions): void {
  const { cellSize, windowCells, searchRadius, levels, blurSigma } = options;
  const bad = (option: string, value: number, rule: string): DefectError =>
    new DefectError("invalidOption", `Option "${option}" must be ${rule}, got ${value}.`, { option, value: String(value) });
  if (!(Number.isInteger(levels) && levels >= 1 && levels <= 4)) throw bad("levels", levels, "a whole number from 1 to 4");
  const step = 2 ** (levels - 1);
  if (!(Number.isInteger(cellSize) && cellSize >= 4 && cellSize % step === 0)) {
    throw bad("cellSize", cellSize, `a whole number of at least 4 divisible by ${step}`);
  }
  if (!(Number.isInteger(windowCells) && windowCells >= 0)) throw bad("windowCells", windowCells, "a whole number of at least 0");
  if (!(Number.isInteger(searchRadius) && searchRadius >= 1 && searchRadius <= 8)) throw bad("searchRadius", searchRadius, "a whole number from 1 to 8");
  if (!(Number.isInteger(options.refineRadius) && options.refineRadius >= 1 && options.refineRadius <= 8)) {
    throw bad("refineRadius", options.refineRadius, "a whole number from 1 to 8");
  }
  if (!(Number.isFinite(blurSigma) && blurSigma >= 0)) throw bad("blurSigma", blurSigma, "at least 0");
  if (!(Number.isFinite(options.smoothness) && options.smoothness >= 0)) throw bad("smoothness", options.smoothness, "at least 0");
}

export function uniformField(width: number, height: number, cellSize: number, dx: number, dy: number): ShiftField {
  const cols = Math.ceil(width / cellSize);
  const rows = Math.ceil(height / cellSize);
  return { cellSize, cols, rows, dx: new Float32Array(cols * rows).fill(dx), dy: new Float32Array(cols * rows).fill(dy) };
}

/**
 * Per-pixel sampling offsets that bring the reference onto the test image (reference sampled
 * at p - shift(p)), bilinear between cell centres, at a resolution `scale` times the field's.
 */
export function fieldToDisplacement(field: ShiftField, width: number, height: number, scale = 1): DisplacementField {
  const out: DisplacementField = { dx: new Float32Array(width * height), dy: new Float32Array(width * height), width, height };
  const cell = field.cellSize * scale;
  const { cols, rows } = field;
  for (let y = 0; y < height; y++) {
    const gy = Math.max(0, Math.min(rows - 1, (y + 0.5) / cell - 0.5));
    const r0 = Math.min(Math.floor(gy), Math.max(0, rows - 2));
    const r1 = Math.min(r0 + 1, rows - 1);
    const fy = gy - r0;
    for (let x = 0; x < width; x++) {
      const gx = Math.max(0, Math.min(cols - 1, (x + 0.5) / cell - 0.5));
      const c0 = Math.min(Math.floor(gx), Math.max(0, cols - 2));
      const c1 = Math.min(c0 + 1, cols - 1);
      const fx = gx - c0;
      const a = r0 * cols + c0;
      const b = r0 * cols + c1;
      const c = r1 * cols + c0;
      const d = r1 * cols + c1;
      const i = y * width + x;
      const ix = (field.dx[a] as number) * (1 - fx) + (field.dx[b] as number) * fx;
      const jx = (field.dx[c] as number) * (1 - fx) + (field.dx[d] as number) * fx;
      const iy = (field.dy[a] as number) * (1 - fx) + (field.dy[b] as number) * fx;
      const jy = (field.dy[c] as number) * (1 - fx) + (field.dy[d] as number) * fx;
      out.dx[i] = -(ix * (1 - fy) + jx * fy) * scale;
      out.dy[i] = -(iy * (1 - fy) + jy * fy) * scale;
    }
  }
  return out;
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

/**
 * Per-cell quadratic model of the windowed cost around the best candidate c:
 * cost(s) ~ g'(s - c) + (s - c)' H (s - c) / 2, from central differences (per window pixel).
 */
interface CellModels {
  cx: Float64Array;
  cy: Float64Array;
  gx: Float64Array;
  gy: Float64Array;
  hxx: Float64Array;
  hxy: Float64Array;
  hyy: Float64Array;
}

/** Clamps the 2x2 symmetric matrix to positive semi-definite (a saddle says nothing about position). */
function clampPsd(a: number, b: number, d: number): [number, number, number] {
  const mean = (a + d) / 2;
  const diff = Math.hypot((a - d) / 2, b);
  const l1 = Math.max(0, mean + diff);
  const l2 = Math.max(0, mean - diff);
  // Eigenvector of the larger eigenvalue from whichever of two equivalent forms is better conditioned.
  const ux = b;
  const uy = mean + diff - a;
  const wx = mean + diff - d;
  const wy = b;
  const useU = Math.hypot(ux, uy) >= Math.hypot(wx, wy);
  let vx = useU ? ux : wx;
  let vy = useU ? uy : wy;
  const n = Math.hypot(vx, vy);
  if (!(n > 0)) return [l1, 0, l1];
  vx /= n;
  vy /= n;
  return [l1 * vx * vx + l2 * vy * vy, (l1 - l2) * vx * vy, l1 * vy * vy + l2 * vx * vx];
}

function cellModels(windowed: Float64Array, cells: number, radius: number, windowPixels: number): CellModels {
  const side = 2 * radius + 1;
  const at = (sx: number, sy: number, c: number): number => windowed[((sy + radius) * side + sx + radius) * cells + c] as number;
  const models: CellModels = {
    cx: new Float64Array(cells),
    cy: new Float64Array(cells),
    gx: new Float64Array(cells),
    gy: new Float64Array(cells),
    hxx: new Float64Array(cells),
    hxy: new Float64Array(cells),
    hyy: new Float64Array(cells),
  };
  for (let c = 0; c < cells; c++) {
    let best = Number.POSITIVE_INFINITY;
    let bx = 0;
    let by = 0;
    for (let sy = -radius; sy <= radius; sy++) {
      for (let sx = -radius; sx <= radius; sx++) {
        const v = at(sx, sy, c);
        if (v < best) {
          best = v;
          bx = sx;
          by = sy;
        }
      }
    }
    // The model is read around the minimum, kept one step inside the searched square.
    const cx = Math.max(-radius + 1, Math.min(radius - 1, bx));
    const cy = Math.max(-radius + 1, Math.min(radius - 1, by));
    const mid = at(cx, cy, c);
    const left = at(cx - 1, cy, c);
    const right = at(cx + 1, cy, c);
    const up = at(cx, cy - 1, c);
    const down = at(cx, cy + 1, c);
    const hxx = (left - 2 * mid + right) / windowPixels;
    const hyy = (up - 2 * mid + down) / windowPixels;
    const hxy = (at(cx + 1, cy + 1, c) - at(cx + 1, cy - 1, c) - at(cx - 1, cy + 1, c) + at(cx - 1, cy - 1, c)) / (4 * windowPixels);
    const [a, b, d] = clampPsd(hxx, hxy, hyy);
    models.cx[c] = cx;
    models.cy[c] = cy;
    models.gx[c] = (right - left) / (2 * windowPixels);
    models.gy[c] = (down - up) / (2 * windowPixels);
    models.hxx[c] = a;
    models.hxy[c] = b;
    models.hyy[c] = d;
  }
  return models;
}

function quantile(values: Float64Array, q: number): number {
  const sorted = values.slice().sort();
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

/**
 * Smooth increments d minimising sum_c [g_c'(d_c - c_c) + (d_c - c_c)' H_c (d_c - c_c) / 2]
 * + lambda/2 * sum_neighbours |d_c - d_n|^2 + mu/2 * |d_c|^2, by Jacobi sweeps: a cell sure of
 * its shift (large H) keeps it, a blank or one-directional cell takes what its neighbours say
 * along the directions it cannot see.
 */
function smoothIncrements(models: CellModels, cols: number, rows: number, smoothness: number, limit: number): { dx: Float64Array; dy: Float64Array } {
  const cells = cols * rows;
  const trace = new Float64Array(cells);
  for (let c = 0; c < cells; c++) trace[c] = (models.hxx[c] as number) + (models.hyy[c] as number);
  // Scaled by well-structured cells: on a sparse board most cells are blank and the median says nothing.
  const scale = Math.max(quantile(trace, CONFIDENCE_QUANTILE), 1e-12);
  const lambda = smoothness * scale;
  const mu = PRIOR_WEIGHT * scale;
  // Right-hand side of each cell's normal equations: H c - g.
  const bx = new Float64Array(cells);
  const by = new Float64Array(cells);
  for (let c = 0; c < cells; c++) {
    const cx = models.cx[c] as number;
    const cy = models.cy[c] as number;
    bx[c] = (models.hxx[c] as number) * cx + (models.hxy[c] as number) * cy - (models.gx[c] as number);
    by[c] = (models.hxy[c] as number) * cx + (models.hyy[c] as number) * cy - (models.gy[c] as number);
  }
  let dx = Float64Array.from(models.cx);
  let dy = Float64Array.from(models.cy);
  let nx = new Float64Array(cells);
  let ny = new Float64Array(cells);
  for (let sweep = 0; sweep < SMOOTHING_SWEEPS; sweep++) {
    for (let r = 0; r < rows; r++) {
      for (let q = 0; q < cols; q++) {
        const c = r * cols + q;
        let sx = 0;
        let sy = 0;
        let count = 0;
        if (q > 0) (sx += dx[c - 1] as number), (sy += dy[c - 1] as number), count++;
        if (q < cols - 1) (sx += dx[c + 1] as number), (sy += dy[c + 1] as number), count++;
        if (r > 0) (sx += dx[c - cols] as number), (sy += dy[c - cols] as number), count++;
        if (r < rows - 1) (sx += dx[c + cols] as number), (sy += dy[c + cols] as number), count++;
        const a = (models.hxx[c] as number) + lambda * count + mu;
        const b = models.hxy[c] as number;
        const d = (models.hyy[c] as number) + lambda * count + mu;
        const rx = (bx[c] as number) + lambda * sx;
        const ry = (by[c] as number) + lambda * sy;
        const det = a * d - b * b;
        nx[c] = Math.max(-limit, Math.min(limit, (d * rx - b * ry) / det));
        ny[c] = Math.max(-limit, Math.min(limit, (a * ry - b * rx) / det));
      }
    }
    [dx, nx] = [nx, dx];
    [dy, ny] = [ny, dy];
  }
  return { dx, dy };
}

/** One level: refine `field` (full-resolution pixels) using planes downsampled by `factor`. */
function refineLevel(reference: GrayPlane, test: GrayPlane, field: ShiftField, factor: number, options: LocalAlignmentOptions): void {
  const ref = gaussianBlur(downsamplePlane(reference, factor), options.blurSigma);
  const tst = gaussianBlur(downsamplePlane(test, factor), options.blurSigma);
  const warped = warpPlane(ref, fieldToDisplacement(field, ref.width, ref.height, 1 / factor));
  const cell = field.cellSize / factor;
  const { cols, rows } = field;
  const radius = factor === 1 ? options.refineRadius : options.searchRadius;
  const side = 2 * radius + 1;
  const costs = cellCosts(tst, warped, cell, cols, rows, radius);
  const cells = cols * rows;
  const windowed = new Float64Array(side * side * cells);
  const scratch = new Float64Array(cells);
  for (let s = 0; s < side * side; s++) {
    windowSums(costs, s * cells, cols, rows, options.windowCells, scratch);
    windowed.set(scratch, s * cells);
  }
  const windowPixels = (2 * options.windowCells + 1) ** 2 * cell * cell;
  const models = cellModels(windowed, cells, radius, windowPixels);
  const step = smoothIncrements(models, cols, rows, options.smoothness, radius + STEP_MARGIN);
  for (let c = 0; c < cells; c++) {
    field.dx[c] = (field.dx[c] as number) + (step.dx[c] as number) * factor;
    field.dy[c] = (field.dy[c] as number) + (step.dy[c] as number) * factor;
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
  for (let level = options.levels - 1; level >= 0; level--) refineLevel(reference, test, field, 2 ** level, options);
  return field;
}
