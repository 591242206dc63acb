/**
 * Semantic segmentation outputs turned into a defect score map that `threshold` and
 * `mask-to-region` read exactly like an anomaly map: one value a pixel, 0 = good, 1 = defect.
 */
import { DefectError } from "../errors";
import type { ScoreMap } from "../image/types";
import { upsampleBilinear } from "../anomaly/map-ops";
import { PROBABILITY_SUM_TOLERANCE } from "./classify";
import { defaultClassName } from "./names";
import type { ClassScore } from "./types";

/** A model output as onnxruntime returns it (float32 data, row-major). */
export interface RawOutput {
  data: Float32Array;
  dims: readonly number[];
}

export interface SemanticOptions {
  names: readonly string[];
  /** Channel that means "good" (ignored for single-channel outputs). */
  backgroundClass: number;
}

export interface SemanticResult {
  /** Per-class maximum probability over the image, background left out, highest first. */
  classes: ClassScore[];
  /** Defect score a pixel at tensor resolution. */
  map: ScoreMap;
  /** Maximum of the map. */
  score: number;
}

/** [1, C, H, W]: batch, channels, height, width. */
const SEMANTIC_RANK = 4;

/**
 * Decodes [1, C, H, W] (C >= 2: logits or probabilities) or [1, 1, H, W] (a defect
 * probability or logit) into a defect map resized to the tensor size.
 */
export function decodeSemantic(output: RawOutput, options: SemanticOptions, tensorSize: { width: number; height: number }): SemanticResult {
  const { channels, height, width } = checkShape(output);
  const decoded = channels === 1 ? singleChannel(output.data, options.names) : multiChannel(output.data, channels, width * height, options);
  const native: ScoreMap = { data: decoded.map, width, height };
  const map = width === tensorSize.width && height === tensorSize.height ? native : upsampleBilinear(native, tensorSize.width, tensorSize.height);
  let score = 0;
  for (let i = 0; i < map.data.length; i++) if (map.data[i]! > score) score = map.data[i]!;
  decoded.classes.sort((a, b) => b.score - a.score || a.class - b.class);
  return { classes: decoded.classes, map, score };
}

function checkShape(output: RawOutput): { channels: number; height: number; width: number } {
  const dims = output.dims;
  const [batch, channels, height, width] = dims;
  const ok =
    dims.length === SEMANTIC_RANK &&
    batch === 1 &&
    channels !== undefined &&
    height !== undefined &&
    width !== undefined &&
    channels >= 1 &&
    height >= 1 &&
    width >= 1 &&
    output.data.length === channels * height * width;
  if (!ok) {
    throw new DefectError(
      "inferenceFailed",
      `Semantic segmentation output must be [1, C, H, W] with C*H*W values, got [${dims.join(",")}] holding ${output.data.length} values`,
      { dims: dims.join(","), length: output.data.length },
    );
  }
  return { channels: channels!, height: height!, width: width! };
}

function className(names: readonly string[], index: number): string {
  return names[index] ?? defaultClassName(index);
}

/**
 * One channel: a defect probability when every value is in [0, 1], else logits (a graph
 * exported without its final sigmoid), which get the sigmoid here.
 */
function singleChannel(data: Float32Array, names: readonly string[]): { map: Float32Array; classes: ClassScore[] } {
  let isProbability = true;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v <= 1)) {
      isProbability = false;
      break;
    }
  }
  const map = new Float32Array(data.length);
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const p = isProbability ? data[i]! : 1 / (1 + Math.exp(-data[i]!));
    map[i] = p;
    if (p > max) max = p;
  }
  return { map, classes: [{ class: 0, name: className(names, 0), score: max }] };
}

/**
 * True when every pixel's channels are each in [0, 1] and sum to 1 (within the classifier's
 * tolerance, loose enough for float16 graphs): softmax is already in the graph. Logits that pass
 * this at every pixel do not occur in trained networks; a second softmax would flatten probabilities.
 */
function holdsProbabilities(data: Float32Array, channels: number, pixels: number): boolean {
  for (let p = 0; p < pixels; p++) {
    let sum = 0;
    for (let c = 0, i = p; c < channels; c++, i += pixels) {
      const v = data[i]!;
      if (!(v >= 0 && v <= 1)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) return false;
  }
  return true;
}

function multiChannel(data: Float32Array, channels: number, pixels: number, options: SemanticOptions): { map: Float32Array; classes: ClassScore[] } {
  const background = options.backgroundClass;
  if (!(Number.isInteger(background) && background >= 0 && background < channels)) {
    throw new DefectError(
      "invalidOption",
      `Option "backgroundClass" (${background}) must be a channel of the ${channels}-channel segmentation output (0..${channels - 1}).`,
      { option: "backgroundClass", value: String(background), channels },
    );
  }
  const probabilities = holdsProbabilities(data, channels, pixels);
  const map = new Float32Array(pixels);
  const classMax = new Float64Array(channels);
  const scratch = new Float64Array(channels);
  for (let p = 0; p < pixels; p++) {
    let norm = 1;
    if (!probabilities) {
      // Softmax shifted by the pixel's largest logit so exp never overflows.
      let top = Number.NEGATIVE_INFINITY;
      for (let c = 0, i = p; c < channels; c++, i += pixels) if (data[i]! > top) top = data[i]!;
      let sum = 0;
      for (let c = 0, i = p; c < channels; c++, i += pixels) {
        const e = Math.exp(data[i]! - top);
        scratch[c] = e;
        sum += e;
      }
      norm = 1 / sum;
    } else {
      for (let c = 0, i = p; c < channels; c++, i += pixels) scratch[c] = data[i]!;
    }
    for (let c = 0; c < channels; c++) {
      const prob = scratch[c]! * norm;
      if (prob > classMax[c]!) classMax[c] = prob;
    }
    // Clamped: float rounding can leave a probability a hair above 1.
    map[p] = Math.max(0, 1 - scratch[background]! * norm);
  }
  const classes: ClassScore[] = [];
  for (let c = 0; c < channels; c++) {
    if (c !== background) classes.push({ class: c, name: className(options.names, c), score: classMax[c]! });
  }
  return { map, classes };
}
