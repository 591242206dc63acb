/**
 * Turning per-cell matching costs into a smooth shift field. Each cell's windowed cost is
 * summarised by a quadratic (gradient and curvature around its best candidate); the field then
 * minimises the sum of those quadratics plus a penalty on neighbours that disagree. A cell sure
 * of its shift (large curvature) keeps it; a blank cell, or one that sees only horizontal
 * tracks and so cannot tell its horizontal shift, takes what its neighbours say along the
 * directions it cannot see.
 */

/** Pull of each increment towards zero, relative to a typical cell's confidence: keeps blank areas still. */
const PRIOR_WEIGHT = 0.01;
/** Which cell confidence counts as typical when weighing neighbours against data. */
const CONFIDENCE_QUANTILE = 0.9;
/** Jacobi sweeps of the smoothing; information travels one cell a sweep. */
const SMOOTHING_SWEEPS = 40;
/** How far past the searched square an extrapolated minimum may lie, in pixels of the level. */
const STEP_MARGIN = 0.5;

/**
 * Per-cell quadratic model of the windowed cost around the best candidate c:
 * cost(s) ~ g'(s - c) + (s - c)' H (s - c) / 2, from central differences (per window pixel).
 */
export interface CellModels {
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

export function cellModels(windowed: Float64Array, cells: number, radius: number, windowPixels: number): CellModels {
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
export function smoothIncrements(models: CellModels, cols: number, rows: number, smoothness: number, radius: number): { dx: Float64Array; dy: Float64Array } {
  const limit = radius + STEP_MARGIN;
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
        if (q > 0) ((sx += dx[c - 1] as number), (sy += dy[c - 1] as number), count++);
        if (q < cols - 1) ((sx += dx[c + 1] as number), (sy += dy[c + 1] as number), count++);
        if (r > 0) ((sx += dx[c - cols] as number), (sy += dy[c - cols] as number), count++);
        if (r < rows - 1) ((sx += dx[c + cols] as number), (sy += dy[c + cols] as number), count++);
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
