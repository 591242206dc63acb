/**
 * Distance of each pixel to the nearest edge of the template, in whole pixels, capped. Normal
 * differences between a part and its template (binarisation jitter, line-width drift, residual
 * misalignment) live within a pixel or two of the template's edges; the normal-difference model
 * learns how much difference to tolerate at each distance.
 */
import type { LocalRange } from "./filters";

/** Local contrast (3x3 max - min, 0..1) above which a template pixel is on an edge. */
export const EDGE_CONTRAST = 0.3;

/**
 * Chessboard distance to the nearest edge pixel, capped at `cap` (two-pass distance transform),
 * from the template's 3x3 range (max - min >= contrast marks an edge pixel).
 */
export function edgeDistanceFromRange(range: LocalRange, width: number, height: number, cap: number, contrast = EDGE_CONTRAST): Uint8Array {
  const dist = new Uint8Array(width * height);
  const { min, max } = range;
  for (let i = 0; i < dist.length; i++) dist[i] = (max[i] as number) - (min[i] as number) >= contrast ? 0 : cap;
  // Forward then backward sweep over the 8-neighbourhood; distances fit in a byte (cap <= 255).
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let d = dist[i] as number;
      if (d === 0) continue;
      if (x > 0 && (dist[i - 1] as number) + 1 < d) d = (dist[i - 1] as number) + 1;
      if (y > 0) {
        const up = i - width;
        if ((dist[up] as number) + 1 < d) d = (dist[up] as number) + 1;
        if (x > 0 && (dist[up - 1] as number) + 1 < d) d = (dist[up - 1] as number) + 1;
        if (x < width - 1 && (dist[up + 1] as number) + 1 < d) d = (dist[up + 1] as number) + 1;
      }
      dist[i] = d;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      let d = dist[i] as number;
      if (d === 0) continue;
      if (x < width - 1 && (dist[i + 1] as number) + 1 < d) d = (dist[i + 1] as number) + 1;
      if (y < height - 1) {
        const down = i + width;
        if ((dist[down] as number) + 1 < d) d = (dist[down] as number) + 1;
        if (x < width - 1 && (dist[down + 1] as number) + 1 < d) d = (dist[down + 1] as number) + 1;
        if (x > 0 && (dist[down - 1] as number) + 1 < d) d = (dist[down - 1] as number) + 1;
      }
      dist[i] = d;
    }
  }
  return dist;
}
