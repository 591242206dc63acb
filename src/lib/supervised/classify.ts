/**
 * Classification heads [1,C]: logits (YOLOv5-cls, most torchvision exports) or probabilities
 * (YOLOv8/11-cls apply softmax inside the graph). A row is taken as probabilities when every value
 * lies in [0,1] and they sum to 1 within PROBABILITY_SUM_TOLERANCE; otherwise softmax is applied.
 * Logits practically never pass that test, and a second softmax on probabilities would flatten them
 * (softmax of [0.9, 0.1] is [0.69, 0.31]). Multi-label sigmoid heads (independent probabilities that
 * need not sum to 1) are outside this rule and get a softmax.
 */
import type { ClassScore } from "./types";

/** Loose enough for float16 graphs, whose softmax sums drift by ~1e-3. */
export const PROBABILITY_SUM_TOLERANCE = 1e-2;

export function isProbabilityRow(values: Float32Array): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) <= PROBABILITY_SUM_TOLERANCE;
}

/** Numerically stable softmax (the maximum is subtracted before exp). */
export function softmax(values: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = new Float32Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const e = Math.exp(values[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Class probabilities of one row. A single-class head is a binary score: kept when already in
 * [0,1], else passed through a sigmoid (softmax of one value is always 1).
 */
export function toProbabilities(values: Float32Array): Float32Array {
  if (values.length === 1) {
    const v = values[0]!;
    return Float32Array.of(v >= 0 && v <= 1 ? v : sigmoid(v));
  }
  return isProbabilityRow(values) ? Float32Array.from(values) : softmax(values);
}

/** The k best classes, best first; ties keep the lower class index first. */
export function topK(probabilities: Float32Array, k: number, nameOf: (index: number) => string): ClassScore[] {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b]! - probabilities[a]! || a - b);
  return order.slice(0, Math.max(0, k)).map((index) => ({ class: index, name: nameOf(index), score: probabilities[index]! }));
}
