/**
 * Reading a sample from loosely typed message values, and checking that a sample can be
 * compared with what a model learned: the same tensor shape and, where both are known, the
 * same preprocessing. A model fed anything else would still answer, just with wrong scores.
 */
import { DefectError } from "../errors";
import { parsePreprocessOptions } from "../image";
import type { PreprocessOptions, Tensor, TensorLayout } from "../image/types";
import { formatShape } from "../onnx/feeds";
import { describeType } from "../source/load-image";
import type { Sample } from "./types";

const TENSOR_RANK = 4;
const LAYOUTS: readonly TensorLayout[] = ["NCHW", "NHWC"];

/** What every sample of a model or round must share. */
export interface SampleShape {
  dims: number[];
  layout: TensorLayout;
  /** null when the learning samples did not say how they were made. */
  preprocessing: PreprocessOptions | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Index of the first NaN or infinite value, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // v - v is NaN exactly for NaN and the infinities, and one comparison is the cheapest test.
    const v = data[i] as number;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** The tensor the preprocess node puts in msg.payload, checked for internal consistency. */
export function readTensor(value: unknown, where: string): Tensor {
  const fail = (what: string): DefectError =>
    new DefectError("noTensorInput", `${where} must be a tensor {data: Float32Array, dims, layout} as the preprocess node makes it: ${what}`, {
      source: where,
      reason: what,
    });
  if (Buffer.isBuffer(value)) throw fail("got a Buffer (an encoded image?): put a preprocess node before the detector");
  if (!isRecord(value)) throw fail(`got ${describeType(value)}`);
  const { data, dims, layout } = value;
  if (!(data instanceof Float32Array)) throw fail(`data is ${describeType(data)}, not a Float32Array`);
  const goodDims = Array.isArray(dims) && dims.length === TENSOR_RANK && dims.every((d) => Number.isInteger(d) && (d as number) >= 1);
  if (!goodDims) throw fail(`dims ${JSON.stringify(dims)} are not four positive integers`);
  if (!LAYOUTS.includes(layout as TensorLayout)) throw fail(`layout ${JSON.stringify(layout)} is not NCHW or NHWC`);
  const size = (dims as number[]).reduce((a, b) => a * b, 1);
  if (data.length !== size) throw fail(`${data.length} values do not fill dims ${formatShape(dims as number[])}`);
  // A NaN row would be learned into the bank and saved, and surface much later as a score that is not a number.
  const bad = firstNonFinite(data);
  if (bad !== -1) throw fail(`value ${bad} is ${String(data[bad])}: NaN and infinities are refused before anything is learned or scored`);
  return { data, dims: [...(dims as number[])], layout: layout as TensorLayout };
}

/** msg.preprocessing as the preprocess node writes it; undefined when absent. */
export function readPreprocessing(value: unknown, where: string): PreprocessOptions | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    throw new DefectError("invalidOption", `${where} must be an object of preprocessing options, got ${describeType(value)}`, {
      option: where,
      value: describeType(value),
    });
  }
  return parsePreprocessOptions(value);
}

export function shapeOf(sample: Sample): SampleShape {
  return { dims: [...sample.tensor.dims], layout: sample.tensor.layout, preprocessing: sample.preprocessing ?? null };
}

function describeTensor(dims: readonly number[], layout: TensorLayout): string {
  return `${layout} ${formatShape(dims)}`;
}

function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Fields that make different tensors; the pad value only matters where there is padding. */
export function preprocessDifferences(learned: PreprocessOptions, given: PreprocessOptions): string[] {
  const keys: Array<keyof PreprocessOptions> = ["width", "height", "resize", "kernel", "roi", "color", "layout", "scale", "mean", "std"];
  if (learned.resize === "letterbox" || given.resize === "letterbox") keys.push("padValue");
  return keys
    .filter((key) => JSON.stringify(learned[key]) !== JSON.stringify(given[key]))
    .map((key) => `${key} ${shown(given[key])} (learned with ${shown(learned[key])})`);
}

/** Who the sample is compared with, in the words of the error messages. */
const AGAINST = {
  model: { shape: "the model was learned on", preprocessing: "the preprocessing the model was learned with" },
  round: { shape: "this learning round started with", preprocessing: "the preprocessing of this learning round's first image" },
} as const;

/** Throws when `sample` cannot be compared with samples of `shape`. */
export function checkSample(shape: SampleShape, sample: Sample, against: keyof typeof AGAINST): void {
  const { tensor } = sample;
  const words = AGAINST[against];
  if (tensor.layout !== shape.layout || formatShape(tensor.dims) !== formatShape(shape.dims)) {
    const expected = describeTensor(shape.dims, shape.layout);
    const actual = describeTensor(tensor.dims, tensor.layout);
    throw new DefectError("inputShapeMismatch", `the tensor is ${actual} but ${words.shape} ${expected}: preprocess every image the same way`, {
      expected,
      actual,
    });
  }
  if (shape.preprocessing === null || sample.preprocessing === undefined) return;
  const differences = preprocessDifferences(shape.preprocessing, sample.preprocessing);
  if (differences.length > 0) {
    throw new DefectError("preprocessMismatch", `msg.preprocessing differs from ${words.preprocessing}: ${differences.join("; ")}`, {
      differences: differences.join("; "),
    });
  }
}
