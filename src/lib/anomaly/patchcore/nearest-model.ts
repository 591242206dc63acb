/**
 * The nearest-row search graph of nearest.ts: d²(q, b) = |q|² - 2 q·b + |b|², exact over all the
 * features or, in a projected subspace, through the 8-bit candidate ranking (candidate-search.ts).
 */
import { attr, GraphBuilder } from "../../onnx/graph-builder";
import { addBankConstants, addNearestRows, quantiseBank } from "./candidate-search";

/** Search in a linear subspace: queries and bank are multiplied by `matrix` ([dim, outDim]) first. */
export interface SearchProjection {
  matrix: Float32Array;
  outDim: number;
}

/**
 * The bank as the search's Gemm reads it: transposed to [dim, size], with each row's squared
 * norm (|b|² of the distance).
 */
export function searchConstants(bank: Float32Array, size: number, dim: number): { transposed: Float32Array; norms: Float32Array } {
  const transposed = new Float32Array(dim * size);
  const norms = new Float32Array(size);
  for (let r = 0; r < size; r++) {
    let n = 0;
    for (let c = 0; c < dim; c++) {
      const v = bank[r * dim + c] as number;
      transposed[c * size + r] = v;
      n += v * v;
    }
    norms[r] = n;
  }
  return { transposed, norms };
}

export function buildNearestModel(bank: Float32Array, size: number, dim: number, projection?: SearchProjection, inputDim = dim): Uint8Array {
  const g = new GraphBuilder({ name: "nearest" });
  const input = g.input("queries", "float32", ["count", inputDim]);
  const k = g.input("k", "int64", [1]);
  if (projection !== undefined) {
    // The same search as the fused scoring graph's (candidate-search.ts), so both find the same rows.
    const q = g.op("MatMul", [input, g.constant("projection", projection.matrix, [inputDim, projection.outDim])]);
    const found = addNearestRows(g, q, addBankConstants(g, quantiseBank(bank, size, dim)), k, "queries");
    g.output(g.op("Sqrt", [found.squared]), "distances", "float32");
    g.output(found.indices, "indices", "int64");
    return g.build();
  }
  const { transposed, norms } = searchConstants(bank, size, dim);
  // |b|² - 2 q·b ranks the bank exactly as the full distance does; |q|² is added after TopK.
  // One Gemm (alpha -2, the norms as its bias) writes it in a single pass over the
  // [count, size] product, instead of two more elementwise passes over it.
  const partial = g.op("Gemm", [input, g.constant("bankT", transposed, [dim, size]), g.constant("bankNorm", norms, [1, size])], {
    alpha: attr.float(-2),
    beta: attr.float(1),
  });
  const [values, indices] = g.opMulti("TopK", [partial, k], 2, { axis: 1, largest: 0, sorted: 1 }) as [
    ReturnType<GraphBuilder["op"]>,
    ReturnType<GraphBuilder["op"]>,
  ];
  const qNorm = g.op("ReduceSum", [g.op("Mul", [input, input]), g.constantInt64("axis1", [1])], { keepdims: 1 });
  const d2 = g.op("Max", [g.op("Add", [values, qNorm]), g.constantFloat("zero", [0], [])]);
  g.output(g.op("Sqrt", [d2]), "distances", "float32");
  g.output(indices, "indices", "int64");
  return g.build();
}
