/**
 * Resampling a plane: bilinear, with the border pixels repeated outside the image (a shifted
 * part shows no new content there; `valid` marks where that happened).
 */
import { createPlane, type GrayPlane } from "./plane";
import type { ShiftField } from "./shift-field";

function sample(src: Float32Array, width: number, height: number, sx: number, sy: number): number {
  const maxX = width - 1;
  const maxY = height - 1;
  const cx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
  const cy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
  let x0 = Math.floor(cx);
  let y0 = Math.floor(cy);
  if (x0 >= maxX) x0 = maxX > 0 ? maxX - 1 : 0;
  if (y0 >= maxY) y0 = maxY > 0 ? maxY - 1 : 0;
  const fx = cx - x0;
  const fy = cy - y0;
  const i = y0 * width + x0;
  const x1 = maxX > 0 ? 1 : 0;
  const y1 = maxY > 0 ? width : 0;
  const a = src[i] as number;
  const b = src[i + x1] as number;
  const c = src[i + y1] as number;
  const d = src[i + y1 + x1] as number;
  return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

/** out(x, y) = plane(x + dx, y + dy). */
export function shiftPlane(plane: GrayPlane, dx: number, dy: number): GrayPlane {
  const { width, height, data } = plane;
  const out = createPlane(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.data[y * width + x] = sample(data, width, height, x + dx, y + dy);
  }
  return out;
}

/** Bilinear position between grid centres along one axis: lower index, upper index, weight of the upper. */
function gridPositions(size: number, cell: number, count: number): { lo: Int32Array; hi: Int32Array; w: Float32Array } {
  const lo = new Int32Array(size);
  const hi = new Int32Array(size);
  const w = new Float32Array(size);
  for (let p = 0; p < size; p++) {
    const g = Math.max(0, Math.min(count - 1, (p + 0.5) / cell - 0.5));
    const l = Math.min(Math.floor(g), Math.max(0, count - 2));
    lo[p] = l;
    hi[p] = Math.min(l + 1, count - 1);
    w[p] = g - l;
  }
  return { lo, hi, w };
}

/**
 * Brings a reference onto the test frame along a shift field: out(p) = plane(p - shift(p)),
 * with the field read bilinearly between cell centres. `scale` is the plane's resolution
 * relative to the field's (0.5 for a half-size plane). When `valid` is given it receives 1
 * where the sample falls inside the plane and 0 where the border was repeated.
 */
export function warpByField(plane: GrayPlane, field: ShiftField, scale = 1, valid?: Uint8Array): GrayPlane {
  const { width, height, data } = plane;
  const out = createPlane(width, height);
  const cell = field.cellSize * scale;
  const { cols, rows } = field;
  const xs = gridPositions(width, cell, cols);
  const ys = gridPositions(height, cell, rows);
  const rowDx = new Float32Array(cols);
  const rowDy = new Float32Array(cols);
  for (let y = 0; y < height; y++) {
    const a = (ys.lo[y] as number) * cols;
    const b = (ys.hi[y] as number) * cols;
    const wy = ys.w[y] as number;
    for (let c = 0; c < cols; c++) {
      rowDx[c] = ((field.dx[a + c] as number) * (1 - wy) + (field.dx[b + c] as number) * wy) * scale;
      rowDy[c] = ((field.dy[a + c] as number) * (1 - wy) + (field.dy[b + c] as number) * wy) * scale;
    }
    const maxX = width - 1;
    const maxY = height - 1;
    for (let x = 0; x < width; x++) {
      const l = xs.lo[x] as number;
      const h = xs.hi[x] as number;
      const wx = xs.w[x] as number;
      const sx = x - ((rowDx[l] as number) * (1 - wx) + (rowDx[h] as number) * wx);
      const sy = y - ((rowDy[l] as number) * (1 - wx) + (rowDy[h] as number) * wx);
      const i = y * width + x;
      if (sx >= 0 && sy >= 0 && sx < maxX && sy < maxY) {
        // Inside: no clamping, the common case.
        const x0 = sx | 0;
        const y0 = sy | 0;
        const fx = sx - x0;
        const fy = sy - y0;
        const j = y0 * width + x0;
        const a = data[j] as number;
        const b = data[j + 1] as number;
        const c = data[j + width] as number;
        const d = data[j + width + 1] as number;
        out.data[i] = (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
        if (valid) valid[i] = 1;
      } else {
        out.data[i] = sample(data, width, height, sx, sy);
        if (valid) valid[i] = sx >= 0 && sx <= maxX && sy >= 0 && sy <= maxY ? 1 : 0;
      }
    }
  }
  return out;
}
