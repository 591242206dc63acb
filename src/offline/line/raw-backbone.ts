/**
 * The floor a line is compared with: a plain onnxruntime `InferenceSession.run` of the backbone
 * file, with the package's session options (threads, no spinning), on the tensor the line's
 * preprocess would make. Its own session, not the shared cache: it measures onnxruntime alone.
 */
import * as ort from "onnxruntime-node";
import { performance } from "node:perf_hooks";
import type { Tensor } from "../../lib/image";
import { toOrtOptions, type SessionOptions } from "../../lib/onnx";

export interface RawBackbone {
  /** Milliseconds one run took. */
  time(tensor: Tensor): Promise<number>;
  release(): Promise<void>;
}

export async function openRawBackbone(file: string, layers: readonly string[], session: SessionOptions): Promise<RawBackbone> {
  const raw = await ort.InferenceSession.create(file, toOrtOptions(session));
  const input = raw.inputNames[0] as string;
  return {
    async time(tensor) {
      const feed = { [input]: new ort.Tensor("float32", tensor.data, tensor.dims) };
      const started = performance.now();
      await raw.run(feed, [...layers]);
      return performance.now() - started;
    },
    release: () => raw.release(),
  };
}
