/**
 * Resampling a plane by a displacement: out(x, y) = in(x + dx, y + dy), bilinear, with the
 * border pixels repeated outside the image (a shifted board shows no new content there).
 */
import { createPlane, type GrayPlane } from "./plane";

function sample(src: Float32Array, width: number, height: number, sx: number, sy: number): number {
  const maxX = width - 1;
  const maxY = height - 1;
  const cx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
  const cy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
  const x0 = Math.min(Math.floor(cx), maxX - 1 < 0 ? 0 : maxX - 1);
  const y0 = Math.min(Math.floor(cy), maxY - 1 < 0 ? 0 : maxY - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const i = y0 * width + x0;
  const a = src[i] as number;
  const b = src[i + 1] as number;
  const c = src[i + width] as number;
  const d = src[i + width + 1] as number;
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

/** A displacement per pixel, row-major, the same size as the plane it resamples. */
export interface DisplacementField {
  dx: Float32Array;
  dy: Float32Array;
  width: number;
  height: number;
}

/** out(x, y) = plane(x + field.dx(x, y), y + field.dy(x, y)). */
export function warpPlane(plane: GrayPlane, field: DisplacementField): GrayPlane {
  const { width, height, data } = plane;
  const out = createPlane(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      out.data[i] = sample(data, width, height, x + (field.dx[i] as number), y + (field.dy[i] as number));
    }
  }
  return out;
}
