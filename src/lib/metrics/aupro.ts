/**
 * AUPRO (Bergmann et al., MVTec AD): the area under the per-region-overlap curve up to a false
 * positive rate limit, divided by that limit so a perfect map scores 1. Each connected defect
 * region of the ground truth counts equally, however large, which is why it complements the
 * pixel AUROC (dominated by large defects).
 */
import { labelMask } from "../regions/components";

export interface MapWithMask {
  /** Anomaly scores, row-major, width * height values. */
  map: ArrayLike<number>;
  /** Ground truth, non-zero = defect; same size as the map. */
  mask: ArrayLike<number>;
  width: number;
  height: number;
}

export const DEFAULT_FPR_LIMIT = 0.3;

/** Returns NaN when there is no defect region or no defect-free pixel. */
export function aupro(samples: MapWithMask[], fprLimit = DEFAULT_FPR_LIMIT): number {
  if (!(fprLimit > 0 && fprLimit <= 1)) throw new RangeError(`fprLimit must be in (0, 1], got ${fprLimit}`);
  let negatives = 0;
  let positives = 0;
  for (const s of samples) {
    if (s.map.length !== s.width * s.height || s.mask.length !== s.map.length) {
      throw new RangeError(`map (${s.map.length}) and mask (${s.mask.length}) must both be ${s.width}x${s.height}`);
    }
    for (let i = 0; i < s.mask.length; i++) if ((s.mask[i] as number) !== 0) positives++;
    negatives += s.mask.length;
  }
  negatives -= positives;
  const negScores = new Float32Array(negatives);
  const posScores = new Float32Array(positives);
  const posRegion = new Int32Array(positives);
  const regionSizes: number[] = [];
  let ni = 0;
  let pi = 0;
  for (const s of samples) {
    const { labels, count } = labelMask(s.mask, s.width, s.height);
    const base = regionSizes.length;
    for (let r = 0; r < count; r++) regionSizes.push(0);
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i] as number;
      if (l === 0) {
        negScores[ni++] = s.map[i] as number;
      } else {
        posScores[pi] = s.map[i] as number;
        posRegion[pi++] = base + l - 1;
        regionSizes[base + l - 1] = (regionSizes[base + l - 1] as number) + 1;
      }
    }
  }
  const regionCount = regionSizes.length;
  if (regionCount === 0 || negatives === 0) return Number.NaN;

  // Descending sweep over thresholds: negatives drive the FPR, positives the mean overlap.
  const neg = negScores.sort().reverse();
  const posOrder = Uint32Array.from({ length: positives }, (_, i) => i).sort((a, b) => (posScores[b] as number) - (posScores[a] as number));
  const weight = regionSizes.map((size) => 1 / (size * regionCount));

  let area = 0;
  let prevFpr = 0;
  let prevPro = 0;
  let pro = 0;
  let fp = 0;
  let n = 0;
  let p = 0;
  while (n < neg.length || p < posOrder.length) {
    const nextNeg = n < neg.length ? (neg[n] as number) : Number.NEGATIVE_INFINITY;
    const nextPos = p < posOrder.length ? (posScores[posOrder[p] as number] as number) : Number.NEGATIVE_INFINITY;
    const threshold = Math.max(nextNeg, nextPos);
    while (n < neg.length && neg[n] === threshold) {
      fp++;
      n++;
    }
    while (p < posOrder.length && posScores[posOrder[p] as number] === threshold) {
      pro += weight[posRegion[posOrder[p] as number] as number] as number;
      p++;
    }
    const fpr = fp / negatives;
    if (fpr >= fprLimit) {
      // Interpolate the segment that crosses the limit, then stop.
      const t = fpr === prevFpr ? 1 : (fprLimit - prevFpr) / (fpr - prevFpr);
      const proAtLimit = prevPro + t * (pro - prevPro);
      area += ((proAtLimit + prevPro) / 2) * (fprLimit - prevFpr);
      return area / fprLimit;
    }
    area += ((pro + prevPro) / 2) * (fpr - prevFpr);
    prevFpr = fpr;
    prevPro = pro;
  }
  return area / fprLimit;
}
