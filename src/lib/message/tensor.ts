/**
 * The preprocess node's output as the detector reads it: the tensor in msg.payload and the
 * options it was made with in msg.preprocessing (msg.transform has a file of its own).
 */
import { DefectError } from "../errors";
import { parsePreprocessOptions } from "../image/options";
import { tensorSize } from "../image/tensor";
import type { PreprocessOptions, Tensor, TensorLayout, Transform } from "../image/types";
import { formatShape } from "../onnx/feeds";
import { describe, isRecord, type MessageFields, type MessageView } from "./record";
import { writeTransform } from "./transform";

const TENSOR_RANK = 4;
const LAYOUTS: readonly TensorLayout[] = ["NCHW", "NHWC"];

/** Index of the first NaN or infinite value, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // v - v is NaN exactly for NaN and the infinities, and one comparison is the cheapest test.
    const v = data[i] as number;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** The tensor the preprocess node puts in msg.payload, checked for internal consistency; `where` names it in errors. */
export function readTensor(value: unknown, where: string): Tensor {
  const fail = (what: string): DefectError =>
    new DefectError("noTensorInput", `${where} must be a tensor {data: Float32Array, dims, layout} as the preprocess node makes it: ${what}`, {
      source: where,
      reason: what,
    });
  if (Buffer.isBuffer(value)) throw fail("got a Buffer (an encoded image?): put a preprocess node before the detector");
  if (!isRecord(value)) throw fail(`got ${describe(value)}`);
  const { data, dims, layout } = value;
  if (!(data instanceof Float32Array)) throw fail(`data is ${describe(data)}, not a Float32Array`);
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
export function readPreprocessing(msg: MessageView): PreprocessOptions | undefined {
  const value = msg.preprocessing;
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    throw new DefectError("invalidOption", `msg.preprocessing must be an object of preprocessing options, got ${describe(value)}`, {
      option: "msg.preprocessing",
      value: describe(value),
    });
  }
  return parsePreprocessOptions(value);
}

/** What the preprocess node made of one image. */
export interface Preprocessed {
  tensor: Tensor;
  transform: Transform;
  options: PreprocessOptions;
}

/** The preprocess node's output: the tensor replaces the payload; the transform and the options travel beside it. */
export function writePreprocessed(msg: MessageFields, { tensor, transform, options }: Preprocessed): void {
  msg.payload = tensor;
  writeTransform(msg, transform);
  // A copy: the detector records these with what it learns, and must not share the node's own.
  msg["preprocessing"] = { ...options, roi: options.roi === null ? null : { ...options.roi }, mean: [...options.mean], std: [...options.std] };
}
