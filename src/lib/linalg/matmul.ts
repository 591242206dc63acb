/**
 * Dense float32 matrix products through onnxruntime (BLAS-speed), for the fitting steps that
 * would take minutes as JavaScript loops.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../onnx/graph-builder";
import { acquireModelFromBytes, type SessionOptions } from "../onnx";

function buildMatMul(transposeA: boolean): Uint8Array {
  const g = new GraphBuilder({ name: transposeA ? "matmul-at" : "matmul" });
  const a = g.input("a", "float32", transposeA ? ["k", "m"] : ["m", "k"]);
  const b = g.input("b", "float32", ["k", "n"]);
  const left = transposeA ? g.op("Transpose", [a], { perm: [1, 0] }) : a;
  g.output(g.op("MatMul", [left, b]), "c", "float32");
  return g.build();
}

/**
 * C = A·B, or Aᵀ·B with `transposeA` (A given as [k, m]). Row-major arrays; returns [m, n].
 */
export async function matmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  options: { transposeA?: boolean; session?: SessionOptions } = {},
): Promise<Float32Array> {
  const transposeA = options.transposeA === true;
  const model = await acquireModelFromBytes(transposeA ? "linalg:matmul-at" : "linalg:matmul", buildMatMul(transposeA), options.session);
  try {
    const out = await model.run({
      a: new ort.Tensor("float32", a, transposeA ? [k, m] : [m, k]),
      b: new ort.Tensor("float32", b, [k, n]),
    });
    return (out.c as ort.Tensor).data as Float32Array;
  } finally {
    await model.release();
  }
}
