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

/** Values of A sent to the model's thread per run (2 MB: a fresh 8 MB copy took 23 ms on a 2-core VM). */
const BLOCK_VALUES = 1 << 19;

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
    if (transposeA) {
      const out = await model.run({ a: new ort.Tensor("float32", a, [k, m]), b: new ort.Tensor("float32", b, [k, n]) });
      return (out.c as ort.Tensor).data as Float32Array;
    }
    // In blocks of rows, one exchange each: a 73 MB bank sent at once was cloned in one 200 ms
    // stall of the sending thread; a block is copied and handed over (rows are independent).
    const c = new Float32Array(m * n);
    const rows = Math.max(1, Math.floor(BLOCK_VALUES / Math.max(1, k)));
    for (let first = 0; first < m; first += rows) {
      const count = Math.min(rows, m - first);
      const out = await model.run({
        a: new ort.Tensor("float32", a.subarray(first * k, (first + count) * k), [count, k]),
        b: new ort.Tensor("float32", b, [k, n]),
      });
      c.set((out.c as ort.Tensor).data as Float32Array, first * n);
    }
    return c;
  } finally {
    await model.release();
  }
}
