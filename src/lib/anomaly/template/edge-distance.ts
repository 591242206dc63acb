/**
 * Distance of each pixel to the nearest edge of the template, in whole pixels, capped. Normal
 * differences between a part and its template (binarisation jitter, line-width drift, residual
 * misalignment) live within a pixel or two of the template's edges; the normal-difference model
 * learns how much difference to tolerate at each distance.
 */
import { localRange, type LocalRange } from "./filters";
import type { GrayPlane } from "./plane";

/** Local contrast (3x3 max - min, 0..1) above which a template pixel is on an edge. */
export const EDGE_CONTRAST = 0.3;

/** Chessboard distance to the nearest edge pixel, capped at `cap` (two-pass distance transform). */
export function edgeDistance(template: GrayPlane, cap: number, contrast = EDGE_CONTRAST): Uint8Array {
  return edgeDistanceFromRange(localRange(template, 1), template.width, template.height, cap, contrast);
}

/** The same from the template's 3x3 range, when the caller already has it. */
export function edgeDistanceFromRange(range: LocalRange, width: number, height: number, cap: number, contrast = EDGE_CONTRAST): Uint8Array {
  const dist = new Uint8Array(width * height);
  const { min, max } = range;
  for (let i = 0; i < dist.length; i++) dist[i] = (max[i] as number) - (min[i] as number) >= contrast ? 0 : cap;
  // Forward then backward sweep over the 8-neighbourhood.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let d = dist[i] as number;
      if (d === 0) continue;
      if (x > 0) d = Math.min(d, (dist[i - 1] as number) + 1);
      if (y > 0) {
        d = Math.min(d, (dist[i - width] as number) + 1);
        if (x > 0) d = Math.min(d, (dist[i - width - 1] as number) + 1);
        if (x < width - 1) d = Math.min(d, (dist[i - width + 1] as number) + 1);
      }
      dist[i] = d;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      let d = dist[i] as number;
      if (d === 0) continue;
      if (x < width - 1) d = Math.min(d, (dist[i + 1] as number) + 1);
      if (y < height - 1) {
        d = Math.min(d, (dist[i + width] as number) + 1);
        if (x < width - 1) d = Math.min(d, (dist[i + width + 1] as number) + 1);
        if (x > 0) d = Math.min(d, (dist[i + width - 1] as number) + 1);
      }
      dist[i] = d;
    }
  }
  return dist;
}
