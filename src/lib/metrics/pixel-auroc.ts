/** Pixel AUROC: every pixel of every map scored against its mask. */
import type { MapWithMask } from "./aupro";
import { aurocSortingInPlace } from "./ranking";

/**
 * `positives`: the number of mask pixels that are set. The scores are gathered into one array of
 * positives and one of negatives and sorted where they are (160 MB for 630 maps of 256 px: a copy
 * more would show in a run's peak memory); a function of its own so they are garbage on return.
 */
export function pixelAuroc(samples: readonly MapWithMask[], positives: number): number {
  const total = samples.reduce((n, s) => n + s.mask.length, 0);
  const pos = new Float32Array(positives);
  const neg = new Float32Array(total - positives);
  let pi = 0;
  let ni = 0;
  for (const s of samples) {
    for (let i = 0; i < s.mask.length; i++) {
      if ((s.mask[i] as number) !== 0) pos[pi++] = s.map[i] as number;
      else neg[ni++] = s.map[i] as number;
    }
  }
  return aurocSortingInPlace(pos, neg);
}
