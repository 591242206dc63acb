/**
 * One onnxruntime session on the calling thread: loading, running and describing it, with
 * onnxruntime's errors turned into DefectErrors that name the model. Session workers use it, and
 * so do threads that are workers already (a fit worker runs its searches in place).
 */
import "./offline";
import * as ort from "onnxruntime-node";
import { DefectError, describeError } from "../errors";
import type { TensorSpec } from "./feeds";

export type LoadedSession = ort.InferenceSession;

/** ORT reports a dimension with neither size nor name as "", which reads badly in messages. */
const UNKNOWN_DIM = "?";

/** `where`: the path or the in-memory key, for the message. */
export async function loadSession(where: string, source: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<LoadedSession> {
  try {
    return typeof source === "string" ? await ort.InferenceSession.create(source, options) : await ort.InferenceSession.create(source, options);
  } catch (error) {
    const reason = describeError(error);
    throw new DefectError("modelLoadFailed", `cannot load ONNX model ${where}: ${reason}`, { path: where, reason }, { cause: error });
  }
}

export async function runSession(
  session: LoadedSession,
  name: string,
  feeds: Record<string, ort.Tensor>,
  outputNames: string[] | undefined,
): Promise<Record<string, ort.Tensor>> {
  try {
    const result = outputNames === undefined ? await session.run(feeds) : await session.run(feeds, outputNames);
    return { ...result };
  } catch (error) {
    throw new DefectError("inferenceFailed", `model "${name}" failed to run: ${describeError(error)}`, { model: name }, { cause: error });
  }
}

export function describeSession(session: LoadedSession): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  return { inputs: session.inputMetadata.map(toSpec), outputs: session.outputMetadata.map(toSpec) };
}

function toSpec(meta: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!meta.isTensor) return { name: meta.name, type: "non-tensor", shape: [] };
  return { name: meta.name, type: meta.type, shape: meta.shape.map((d) => (d === "" ? UNKNOWN_DIM : d)) };
}
