/**
 * Ranking metrics over scores where higher means "more likely defective".
 * Ties count half, so a constant scorer gets exactly 0.5 AUROC.
 */

export type Labels = ArrayLike<number | boolean>;

function isPositive(label: number | boolean): boolean {
  return label === true || (typeof label === "number" && label > 0);
}

/** Splits scores by label into positives and negatives. */
export function splitByLabel(scores: ArrayLike<number>, labels: Labels): { positive: Float64Array; negative: Float64Array } {
  if (scores.length !== labels.length) throw new RangeError(`scores (${scores.length}) and labels (${labels.length}) differ in length`);
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (isPositive(labels[i] as number | boolean)) p++;
  const positive = new Float64Array(p);
  const negative = new Float64Array(scores.length - p);
  let pi = 0;
  let ni = 0;
  for (let i = 0; i < scores.length; i++) {
    if (isPositive(labels[i] as number | boolean)) positive[pi++] = scores[i] as number;
    else negative[ni++] = scores[i] as number;
  }
  return { positive, negative };
}

/**
 * Area under the ROC curve from separate positive and negative scores: the probability that a
 * random positive outscores a random negative (Mann-Whitney U), ties counting half. Sorting the
 * two sets separately keeps this O(n log n) for the millions of pixels of a pixel AUROC.
 * Returns NaN when either set is empty (AUROC is undefined then). A NaN score has no rank: it is
 * refused (the tie walk below would never get past it).
 */
export function aurocSplit(positive: Float32Array | Float64Array, negative: Float32Array | Float64Array): number {
  return aurocSortingInPlace(positive.slice(), negative.slice());
}

/**
 * aurocSplit without the copies: sorts `pos` and `neg` themselves. For arrays the caller built
 * for it alone, such as every test pixel's score (40 M values, 160 MB a copy).
 */
export function aurocSortingInPlace(pos: Float32Array | Float64Array, neg: Float32Array | Float64Array): number {
  if (pos.length === 0 || neg.length === 0) return Number.NaN;
  if (pos.some(Number.isNaN) || neg.some(Number.isNaN)) throw new RangeError("AUROC of scores that include NaN");
  pos.sort();
  neg.sort();
  let below = 0; // negatives strictly below the current positive
  let total = 0;
  let i = 0;
  while (i < pos.length) {
    const v = pos[i] as number;
    let runEnd = i;
    while (runEnd < pos.length && pos[runEnd] === v) runEnd++;
    while (below < neg.length && (neg[below] as number) < v) below++;
    let equal = 0;
    while (below + equal < neg.length && neg[below + equal] === v) equal++;
    total += (runEnd - i) * (below + equal / 2);
    i = runEnd;
  }
  return total / (pos.length * neg.length);
}

export function auroc(scores: ArrayLike<number>, labels: Labels): number {
  const { positive, negative } = splitByLabel(scores, labels);
  return aurocSplit(positive, negative);
}

/** One point per distinct threshold, from the highest score down: predicting "defective" when score >= threshold. */
export interface PrPoint {
  threshold: number;
  precision: number;
  recall: number;
}

export function precisionRecallCurve(scores: ArrayLike<number>, labels: Labels): PrPoint[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number));
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (isPositive(labels[i] as number | boolean)) positives++;
  const curve: PrPoint[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length;) {
    const threshold = scores[order[k] as number] as number;
    while (k < order.length && scores[order[k] as number] === threshold) {
      if (isPositive(labels[order[k] as number] as number | boolean)) tp++;
      else fp++;
      k++;
    }
    curve.push({ threshold, precision: tp / (tp + fp), recall: positives === 0 ? 0 : tp / positives });
  }
  return curve;
}

/** Average precision as sum over thresholds of (R_n - R_{n-1}) * P_n (no interpolation). */
export function averagePrecision(scores: ArrayLike<number>, labels: Labels): number {
  const curve = precisionRecallCurve(scores, labels);
  let ap = 0;
  let previousRecall = 0;
  for (const point of curve) {
    ap += (point.recall - previousRecall) * point.precision;
    previousRecall = point.recall;
  }
  return ap;
}

export interface F1Max {
  f1: number;
  threshold: number;
  precision: number;
  recall: number;
}

/** Best F1 over all thresholds, with anomalib's 1e-10 guard, and the threshold that reaches it. */
export function f1Max(scores: ArrayLike<number>, labels: Labels): F1Max {
  let best: F1Max = { f1: 0, threshold: Number.POSITIVE_INFINITY, precision: 0, recall: 0 };
  for (const p of precisionRecallCurve(scores, labels)) {
    const f1 = (2 * p.precision * p.recall) / (p.precision + p.recall + 1e-10);
    if (f1 > best.f1) best = { f1, threshold: p.threshold, precision: p.precision, recall: p.recall };
  }
  return best;
}

export interface ThresholdStats {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  accuracy: number;
  precision: number;
  recall: number;
  /** False positive rate: good parts rejected. */
  fpr: number;
  /** False negative rate: defects missed. */
  fnr: number;
}

/** Confusion counts and rates when "defective" means score >= threshold. Undefined rates are NaN. */
export function statsAtThreshold(scores: ArrayLike<number>, labels: Labels, threshold: number): ThresholdStats {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    const predicted = (scores[i] as number) >= threshold;
    const actual = isPositive(labels[i] as number | boolean);
    if (predicted && actual) tp++;
    else if (predicted) fp++;
    else if (actual) fn++;
    else tn++;
  }
  const ratio = (a: number, b: number): number => (b === 0 ? Number.NaN : a / b);
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    accuracy: ratio(tp + tn, tp + fp + tn + fn),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    fpr: ratio(fp, fp + tn),
    fnr: ratio(fn, fn + tp),
  };
}

/**
 * The share of positives (defective parts) a line catches at a false-reject rate of at most
 * `frr` on the negatives (good parts): the ceiling any threshold can reach at that rate, since
 * it is chosen on the scores measured. At most floor(frr x negatives) good parts may be
 * rejected, so a part is rejected when it scores above the next good score down (a tie with it
 * is accepted, as the good part is). NaN when either set is empty.
 */
export function recallAtFrr(scores: ArrayLike<number>, labels: Labels, frr: number): number {
  if (!(frr >= 0 && frr <= 1)) throw new RangeError(`frr must be within [0, 1], got ${frr}`);
  const { positive, negative } = splitByLabel(scores, labels);
  if (positive.length === 0 || negative.length === 0) return Number.NaN;
  negative.sort();
  const allowed = Math.floor(frr * negative.length + 1e-9);
  if (allowed >= negative.length) return 1;
  // The highest good score that must stay accepted.
  const bar = negative[negative.length - 1 - allowed] as number;
  let caught = 0;
  for (const p of positive) if (p > bar) caught++;
  return caught / positive.length;
}
