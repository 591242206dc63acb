/**
 * Telling an autoencoder from a same-shape semantic segmenter under task "auto". The graph's shapes
 * cannot (see isReconstructionShaped); its values can: the model is run once, when it opens, on a
 * smooth test pattern in the value range an autoencoder is fed (0..1, or 0..255 for uint8 inputs).
 * An autoencoder gives the pattern back, roughly: its output follows the input (correlation at
 * least MIN_CORRELATION) inside the input's range. A softmax segmenter gives class probabilities that
 * sum to 1 at every pixel. Anything else stays ambiguous, and the caller refuses it asking for the
 * Task setting, as it did before the probe.
 */
import * as ort from "onnxruntime-node";
import type { ModelHandle } from "../onnx/session";
import type { InputDescription } from "./family-preprocess";
import { readOutput, toFeed } from "./io";

export type ProbeVerdict = "reconstruction" | "semantic" | "ambiguous";

/** The side of the pattern when the graph leaves the input size open: big enough for a few conv strides. */
const DEFAULT_PROBE_SIDE = 64;
/**
 * A trained autoencoder blurs, but keeps a smooth pattern's shape: 0.9 leaves room for that blur,
 * while a segmenter's class maps on a defect-free pattern are near-constant or follow it only loosely.
 */
export const MIN_CORRELATION = 0.9;
/** Out of range by more than this share of the range is not a reproduction of the input. */
const RANGE_SLACK = 0.25;
/** Channel sums this close to 1 are probabilities (float32 softmax rounding, float16 outputs). */
const SUM_TOLERANCE = 1e-2;
const EIGHT_BIT_MAX = 255;

function probeSize(input: InputDescription): { width: number; height: number } {
  return { width: input.width ?? DEFAULT_PROBE_SIDE, height: input.height ?? DEFAULT_PROBE_SIDE };
}

/**
 * Two crossing waves, shifted per channel, filling 10 % to 90 % of the range: smooth like a photographed
 * part, with structure in every channel, so an output that merely follows the mean cannot correlate.
 */
export function probePattern(input: InputDescription): { data: Float32Array; dims: number[]; high: number } {
  const { width, height } = probeSize(input);
  const channels = input.channels;
  const high = input.type === "uint8" ? EIGHT_BIT_MAX : 1;
  const data = new Float32Array(channels * width * height);
  const nhwc = input.layout === "NHWC";
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const wave = Math.sin((2 * Math.PI * (x + c * 3)) / width) * Math.cos((2 * Math.PI * (y - c * 5)) / height);
        const i = nhwc ? (y * width + x) * channels + c : (c * height + y) * width + x;
        data[i] = high * (0.5 + 0.4 * wave);
      }
    }
  }
  const dims = nhwc ? [1, height, width, channels] : [1, channels, height, width];
  return { data, dims, high };
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

function sumsToOne(data: Float32Array, channels: number, pixels: number, nhwc: boolean): boolean {
  if (channels < 2) return false;
  for (let p = 0; p < pixels; p++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += data[nhwc ? p * channels + c : c * pixels + p]!;
    if (!(Math.abs(sum - 1) <= SUM_TOLERANCE)) return false;
  }
  return true;
}

/** What the output values say; the shapes must already be the ambiguous same-shape case. */
export function judgeProbe(fed: Float32Array, output: Float32Array, input: InputDescription, high: number): ProbeVerdict {
  if (output.length !== fed.length) return "ambiguous";
  let low = Number.POSITIVE_INFINITY;
  let top = Number.NEGATIVE_INFINITY;
  for (const v of output) {
    // A non-finite value settles nothing here; inspections refuse it with a clear error later.
    if (!Number.isFinite(v)) return "ambiguous";
    if (v < low) low = v;
    if (v > top) top = v;
  }
  const pixels = output.length / input.channels;
  if (sumsToOne(output, input.channels, pixels, input.layout === "NHWC")) return "semantic";
  const inRange = low >= -RANGE_SLACK * high && top <= high * (1 + RANGE_SLACK);
  return inRange && correlation(fed, output) >= MIN_CORRELATION ? "reconstruction" : "ambiguous";
}

/** Runs the test pattern through the model and judges its output `outputName`. */
export async function probeSameShapeOutput(handle: ModelHandle, input: InputDescription, outputName: string): Promise<ProbeVerdict> {
  const pattern = probePattern(input);
  const feed: ort.Tensor = toFeed({ data: pattern.data, dims: pattern.dims, layout: input.layout }, input.type);
  let results: Record<string, ort.Tensor>;
  try {
    results = await handle.run({ [input.name]: feed }, [outputName]);
  } catch {
    // A graph that cannot run the pattern (a fixed size it did not declare, say) is left to the Task setting.
    return "ambiguous";
  }
  const output = readOutput(handle.name, outputName, results[outputName]);
  const sameDims = output.dims.length === pattern.dims.length && output.dims.every((d, i) => d === pattern.dims[i]);
  return sameDims ? judgeProbe(pattern.data, output.data, input, pattern.high) : "ambiguous";
}
