/** Tensors in and out of a supervised model's session, in the element type the graph declares. */
import * as ort from "onnxruntime-node";
import { DefectError } from "../errors";
import { formatShape } from "../onnx/feeds";
import type { Tensor } from "../image/types";
import { floatsToHalf, halfToFloats } from "./half";
import type { RawOutput } from "./semantic";
import type { SupervisedInputType } from "./types";

const UINT8_MAX = 255;

/** The preprocessed float tensor as the graph's input type (uint8 inputs get rounded, clamped values). */
export function toFeed(tensor: Tensor, type: SupervisedInputType): ort.Tensor {
  if (type === "float32") return new ort.Tensor("float32", tensor.data, tensor.dims);
  if (type === "float16") return new ort.Tensor("float16", floatsToHalf(tensor.data), tensor.dims);
  const bytes = new Uint8Array(tensor.data.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.min(UINT8_MAX, Math.max(0, Math.round(tensor.data[i]!)));
  return new ort.Tensor("uint8", bytes, tensor.dims);
}

/** An output as float32, whatever numeric type the graph gives (float16 comes as Uint16Array bits). */
export function readOutput(modelName: string, name: string, tensor: ort.Tensor | undefined): RawOutput {
  if (tensor === undefined) throw new DefectError("inferenceFailed", `model "${modelName}" returned no output "${name}"`, { model: modelName, output: name });
  const dims = [...tensor.dims];
  const data = tensor.data;
  if (tensor.type === "float32" && data instanceof Float32Array) return { data, dims };
  if (tensor.type === "float16" && data instanceof Uint16Array) return { data: halfToFloats(data), dims };
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return { data: Float32Array.from(data, Number), dims };
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return { data: Float32Array.from(data as ArrayLike<number>), dims };
  throw new DefectError("inferenceFailed", `model "${modelName}" output "${name}" ${formatShape(dims)} is ${tensor.type}, not a numeric tensor`, {
    model: modelName,
    output: name,
    actual: tensor.type,
  });
}
