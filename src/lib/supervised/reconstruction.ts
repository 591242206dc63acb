/**
 * Reconstruction models (autoencoders): the output has the input's shape, and a defect is where the
 * model could not reproduce its input. The map is the per-pixel squared error averaged over channels,
 * the per-pixel mean squared error. Squared rather than absolute because autoencoders are trained to
 * minimise exactly this (MSE loss): the map is the training loss pixel by pixel, its mean is the
 * image's reconstruction loss, and a large local deviation (a defect) stands out more from the small
 * blur every reconstruction has than it would with absolute differences.
 */
import { DefectError } from "../errors";
import type { ScoreMap, TensorLayout } from "../image/types";
import { formatShape } from "../onnx/feeds";
import type { InputDescription } from "./family-preprocess";
import type { RawOutput } from "./semantic";
import type { ReconstructionScore } from "./types";

type Shape = ReadonlyArray<number | string>;

export interface ReconstructionResult {
  /** Squared error a pixel, averaged over channels, at the tensor's resolution. */
  map: ScoreMap;
  /** The map's maximum or mean. */
  score: number;
}

const RANK = 4;

/** Where channels, height and width sit in a [1,C,H,W] or [1,H,W,C] shape. */
function axesOf(layout: TensorLayout): { channels: number; height: number; width: number } {
  return layout === "NHWC" ? { channels: 3, height: 1, width: 2 } : { channels: 1, height: 2, width: 3 };
}

/**
 * Whether an output can have the input's shape: rank 4, and no axis differs from the input's (or from
 * the channels fed) where both sizes are fixed. Symbolic sizes are not proof either way.
 */
export function fitsInputShape(shape: Shape, input: InputDescription): boolean {
  if (shape.length !== RANK) return false;
  const axes = axesOf(input.layout);
  const expected: Array<number | null> = [1, null, null, null];
  expected[axes.channels] = input.channels;
  expected[axes.height] = input.height;
  expected[axes.width] = input.width;
  return shape.every((d, i) => typeof d !== "number" || expected[i] === null || expected[i] === d);
}

/**
 * The shape ambiguity of "auto": an output with as many fixed channels as the input, at the input's
 * size, is what an autoencoder gives and what a semantic segmenter with that many classes gives
 * ([1,1,H,W] for a binary defect segmenter on gray images, [1,3,H,W] for three classes on RGB). The
 * graph names neither, and values do not settle it: they show only once an image has run, and the
 * logits of a segmenter overlap the range of a normalised image.
 */
export function isReconstructionShaped(shape: Shape, input: InputDescription): boolean {
  return fitsInputShape(shape, input) && shape[axesOf(input.layout).channels] === input.channels;
}

/** Refusal of a same-shape output under task "auto", naming both readings and the setting that decides. */
export function ambiguousReconstruction(modelName: string, output: string, shape: Shape, input: InputDescription): DefectError {
  const listed = `${output} ${formatShape(shape)}`;
  const inputShape = formatShape(input.shape.map((d) => d ?? "?"));
  return new DefectError(
    "unknownModelFormat",
    `model "${modelName}" is ambiguous: output ${listed} has the shape of its input "${input.name}" ${inputShape}, so it may be an autoencoder ` +
      `(reconstruction: the defect map is the error between output and input) or a semantic segmentation with ${String(shape[axesOf(input.layout).channels])} ` +
      `classes (the defect map is 1 minus the background probability); set the task to "reconstruction" or "semantic"`,
    { model: modelName, outputs: listed },
  );
}

/**
 * The error map between the output and the values the model was fed (same dims and layout): an
 * output of another shape, or a non-finite value, is refused rather than scored as a defect.
 */
export function decodeReconstruction(
  modelName: string,
  output: RawOutput,
  fed: RawOutput,
  layout: TensorLayout,
  rule: ReconstructionScore,
): ReconstructionResult {
  const dims = fed.dims;
  const sameDims = output.dims.length === dims.length && output.dims.every((d, i) => d === dims[i]);
  if (dims.length !== RANK || !sameDims || output.data.length !== fed.data.length) {
    throw new DefectError(
      "inferenceFailed",
      `model "${modelName}": a reconstruction has its input's shape, but the output is ${formatShape(output.dims)} for an input of ${formatShape(dims)}`,
      { model: modelName, expected: formatShape(dims), actual: formatShape(output.dims) },
    );
  }
  const axes = axesOf(layout);
  const channels = dims[axes.channels]!;
  const width = dims[axes.width]!;
  const height = dims[axes.height]!;
  const pixels = width * height;
  const data = layout === "NHWC" ? errorsChannelLast(output.data, fed.data, channels, pixels) : errorsChannelFirst(output.data, fed.data, channels, pixels);
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let p = 0; p < pixels; p++) {
    const v = data[p]!;
    // NaN fails every comparison, so this also catches it; the cause is located only then.
    if (!(v <= Number.MAX_VALUE)) throw nonFinite(modelName, output, fed, layout, p);
    if (v > max) max = v;
    sum += v;
  }
  return { map: { data, width, height }, score: rule === "mean" ? sum / pixels : max };
}

/** [C, H*W] planes: channel-outer so each pass reads both tensors in order. */
function errorsChannelFirst(out: Float32Array, fed: Float32Array, channels: number, pixels: number): Float32Array {
  const map = new Float32Array(pixels);
  for (let c = 0; c < channels; c++) {
    const base = c * pixels;
    for (let p = 0; p < pixels; p++) {
      const d = out[base + p]! - fed[base + p]!;
      map[p] = map[p]! + d * d;
    }
  }
  if (channels > 1) for (let p = 0; p < pixels; p++) map[p] = map[p]! / channels;
  return map;
}

/** [H*W, C] interleaved. */
function errorsChannelLast(out: Float32Array, fed: Float32Array, channels: number, pixels: number): Float32Array {
  const map = new Float32Array(pixels);
  for (let p = 0, i = 0; p < pixels; p++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, i++) {
      const d = out[i]! - fed[i]!;
      sum += d * d;
    }
    map[p] = sum / channels;
  }
  return map;
}

/** Names the tensor and pixel that made the error map non-finite (NaN or infinite values, or an overflow). */
function nonFinite(modelName: string, output: RawOutput, fed: RawOutput, layout: TensorLayout, pixel: number): DefectError {
  const axes = axesOf(layout);
  const channels = output.dims[axes.channels]!;
  const width = output.dims[axes.width]!;
  const pixels = output.data.length / channels;
  const at = (data: Float32Array): number | undefined => {
    for (let c = 0; c < channels; c++) {
      const v = data[layout === "NHWC" ? pixel * channels + c : c * pixels + pixel]!;
      if (!Number.isFinite(v)) return v;
    }
    return undefined;
  };
  const bad = at(output.data);
  const input = bad === undefined ? at(fed.data) : undefined;
  const where = `pixel (${pixel % width}, ${Math.floor(pixel / width)})`;
  const what =
    bad !== undefined
      ? `its output holds ${String(bad)} at ${where}`
      : input !== undefined
        ? `the input holds ${String(input)} at ${where}`
        : `the squared error overflows float32 at ${where}`;
  return new DefectError("inferenceFailed", `model "${modelName}": no reconstruction error can be computed: ${what}`, { model: modelName });
}
