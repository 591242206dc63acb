/** Score-map operations shared by the anomaly detectors (pure, synchronous). */
import type { ScoreMap } from "../image/types";

/** Nearest-neighbour upsampling (torch's F.interpolate default), as PatchCore's maps use. */
export function upsampleNearest(map: ScoreMap, width: number, height: number): ScoreMap {
  const out = new Float32Array(width * height);
  const xs = new Int32Array(width);
  for (let x = 0; x < width; x++) xs[x] = Math.min(map.width - 1, Math.floor((x * map.width) / width));
  for (let y = 0; y < height; y++) {
    const row = Math.min(map.height - 1, Math.floor((y * map.height) / height)) * map.width;
    for (let x = 0; x < width; x++) out[y * width + x] = map.data[row + (xs[x] as number)] as number;
  }
  return { data: out, width, height };
}

/** Bilinear upsampling with half-pixel centres (align_corners=False), as PaDiM's maps use. */
export function upsampleBilinear(map: ScoreMap, width: number, height: number): ScoreMap {
  const out = new Float32Array(width * height);
  const axis = (size: number, source: number) => {
    const i0 = new Int32Array(size);
    const i1 = new Int32Array(size);
    const w = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const s = Math.min(Math.max(((i + 0.5) * source) / size - 0.5, 0), source - 1);
      const f = Math.floor(s);
      i0[i] = f;
      i1[i] = Math.min(f + 1, source - 1);
      w[i] = s - f;
    }
    return { i0, i1, w };
  };
  const ax = axis(width, map.width);
  const ay = axis(height, map.height);
  const d = map.data;
  for (let y = 0; y < height; y++) {
    const r0 = (ay.i0[y] as number) * map.width;
    const r1 = (ay.i1[y] as number) * map.width;
    const wy = ay.w[y] as number;
    for (let x = 0; x < width; x++) {
      const c0 = ax.i0[x] as number;
      const c1 = ax.i1[x] as number;
      const wx = ax.w[x] as number;
      const top = (d[r0 + c0] as number) * (1 - wx) + (d[r0 + c1] as number) * wx;
      const bottom = (d[r1 + c0] as number) * (1 - wx) + (d[r1 + c1] as number) * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return { data: out, width, height };
}

/**
 * Normalised 1-D Gaussian of 2 * radius + 1 taps. The default radius is anomalib's:
 * kernel size 2 * int(4 * sigma + 0.5) + 1 (33 for sigma 4).
 */
export function gaussianKernel(sigma: number, radius = Math.floor(4 * sigma + 0.5)): Float32Array {
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] = (kernel[i] as number) / sum;
  return kernel;
}

/** Index reflected into [0, size) without repeating the edge (reflect-101, as kornia's "reflect"). */
function reflect(i: number, size: number): number {
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  let m = ((i % period) + period) % period;
  if (m >= size) m = period - m;
  return m;
}

/** Separable Gaussian blur with reflect padding. */
export function gaussianBlur(map: ScoreMap, sigma: number): ScoreMap {
  if (!(sigma > 0)) return { data: map.data.slice(), width: map.width, height: map.height };
  const kernel = gaussianKernel(sigma);
  const radius = (kernel.length - 1) / 2;
  const { width, height } = map;
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  const colIndex = new Int32Array(width + 2 * radius);
  for (let i = 0; i < colIndex.length; i++) colIndex[i] = reflect(i - radius, width);
  const rowIndex = new Int32Array(height + 2 * radius);
  for (let i = 0; i < rowIndex.length; i++) rowIndex[i] = reflect(i - radius, height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = 0; k < kernel.length; k++) s += (kernel[k] as number) * (map.data[row + (colIndex[x + k] as number)] as number);
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = 0; k < kernel.length; k++) s += (kernel[k] as number) * (tmp[(rowIndex[y + k] as number) * width + x] as number);
      out[y * width + x] = s;
    }
  }
  return { data: out, width, height };
}

/**
 * `gaussianBlur(upsampleNearest(grid, width, height), sigma)` without building the large
 * intermediate image: nearest upsampling repeats each grid value over a block, so a tap of the
 * blur only needs the grid cell it lands in. The blur's taps are summed per grid cell once
 * (weights of each output column/row over grid columns/rows), then applied to the small grid:
 * the same sums in another order, about 10x fewer operations for a 32x32 grid shown at 256x256.
 */
export function upsampleNearestBlurred(grid: ScoreMap, width: number, height: number, sigma: number): ScoreMap {
  if (!(sigma > 0)) return upsampleNearest(grid, width, height);
  const kernel = gaussianKernel(sigma);
  const columns = cellWeights(width, grid.width, kernel);
  const rows = cellWeights(height, grid.height, kernel);
  // Horizontal pass on the grid's own rows: [grid.height, width].
  const across = new Float64Array(grid.height * width);
  for (let gy = 0; gy < grid.height; gy++) {
    const source = gy * grid.width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let t = columns.start[x] as number; t < (columns.start[x + 1] as number); t++) {
        s += (columns.weight[t] as number) * (grid.data[source + (columns.cell[t] as number)] as number);
      }
      across[gy * width + x] = s;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let t = rows.start[y] as number; t < (rows.start[y + 1] as number); t++) {
      const w = rows.weight[t] as number;
      const from = (rows.cell[t] as number) * width;
      for (let x = 0; x < width; x++) out[row + x] = (out[row + x] as number) + w * (across[from + x] as number);
    }
  }
  return { data: out, width, height };
}

/** Per output position, the blur weight falling on each grid cell (CSR: start, cell, weight). */
function cellWeights(size: number, cells: number, kernel: Float32Array): { start: Int32Array; cell: Int32Array; weight: Float64Array } {
  const radius = (kernel.length - 1) / 2;
  const start = new Int32Array(size + 1);
  const cell: number[] = [];
  const weight: number[] = [];
  const sums = new Float64Array(cells);
  for (let i = 0; i < size; i++) {
    sums.fill(0);
    for (let k = 0; k < kernel.length; k++) {
      const source = reflect(i + k - radius, size);
      const c = Math.min(cells - 1, Math.floor((source * cells) / size));
      sums[c] = (sums[c] as number) + (kernel[k] as number);
    }
    for (let c = 0; c < cells; c++) {
      if ((sums[c] as number) === 0) continue;
      cell.push(c);
      weight.push(sums[c] as number);
    }
    start[i + 1] = cell.length;
  }
  return { start, cell: Int32Array.from(cell), weight: Float64Array.from(weight) };
}

/**
 * upsampleNearestBlurred along one axis as a dense [size, cells] matrix: the map is then
 * rows · grid · columnsᵀ, two small matrix products (the fused PatchCore scoring computes its map so).
 */
export function resampleMatrix(size: number, cells: number, sigma: number): Float32Array {
  const matrix = new Float32Array(size * cells);
  if (!(sigma > 0)) {
    for (let i = 0; i < size; i++) matrix[i * cells + Math.min(cells - 1, Math.floor((i * cells) / size))] = 1;
    return matrix;
  }
  const w = cellWeights(size, cells, gaussianKernel(sigma));
  for (let i = 0; i < size; i++) {
    for (let t = w.start[i] as number; t < (w.start[i + 1] as number); t++) matrix[i * cells + (w.cell[t] as number)] = w.weight[t] as number;
  }
  return matrix;
}

/**
 * The mean of the largest `share` of the map's values (at least one value). One pass keeping the
 * largest values in a min-heap: most values fall below the heap's least and cost one comparison,
 * so a 256 x 256 map takes well under a millisecond, where sorting a copy takes a few.
 */
export function mapTopMean(map: ScoreMap, share: number): number {
  const n = map.data.length;
  if (n === 0) return Number.NaN;
  const k = Math.min(n, Math.max(1, Math.round(n * share)));
  const heap = new Float64Array(k);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = map.data[i] as number;
    if (size < k) {
      // Sift up.
      let c = size++;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if ((heap[parent] as number) <= v) break;
        heap[c] = heap[parent] as number;
        c = parent;
      }
      heap[c] = v;
    } else if (v > (heap[0] as number)) {
      // Replace the least kept value and sift down.
      let c = 0;
      for (;;) {
        const left = 2 * c + 1;
        if (left >= k) break;
        const right = left + 1;
        const child = right < k && (heap[right] as number) < (heap[left] as number) ? right : left;
        if ((heap[child] as number) >= v) break;
        heap[c] = heap[child] as number;
        c = child;
      }
      heap[c] = v;
    }
  }
  let sum = 0;
  for (let i = 0; i < k; i++) sum += heap[i] as number;
  return sum / k;
}

export function mapMax(map: ScoreMap): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < map.data.length; i++) if ((map.data[i] as number) > m) m = map.data[i] as number;
  return m;
}
