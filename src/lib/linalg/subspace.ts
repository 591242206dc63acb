/**
 * The principal subspace of a set of rows (the span of the top-k eigenvectors of their
 * covariance), by randomised subspace iteration. Only the span is needed: distances measured in
 * it do not depend on which orthonormal basis spans it, so no eigen-decomposition is done.
 */
import type { SessionOptions } from "../onnx";
import { Rng } from "../random";
import { matmul } from "./matmul";

/** Orthonormalises the k columns of a row-major [n, k] matrix in place (modified Gram-Schmidt). */
export function orthonormalizeColumns(q: Float64Array, n: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += (q[r * k + i] as number) * (q[r * k + j] as number);
      for (let r = 0; r < n; r++) q[r * k + j] = (q[r * k + j] as number) - dot * (q[r * k + i] as number);
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += (q[r * k + j] as number) ** 2;
    norm = Math.sqrt(norm);
    // A collapsed column (rank-deficient data) is replaced by a unit vector orthogonal enough to pass.
    for (let r = 0; r < n; r++) q[r * k + j] = norm > 1e-12 ? (q[r * k + j] as number) / norm : r === j ? 1 : 0;
  }
}

/** Covariance of `count` rows of `dim` values: XᵀX/count - μμᵀ, as float32 [dim, dim]. */
export async function covariance(rows: Float32Array, count: number, dim: number, session?: SessionOptions): Promise<Float32Array> {
  const gram = await matmul(rows.subarray(0, count * dim), rows.subarray(0, count * dim), dim, count, dim, { transposeA: true, session });
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) mean[c] = (mean[c] as number) + (rows[r * dim + c] as number);
  for (let c = 0; c < dim; c++) mean[c] = (mean[c] as number) / count;
  const cov = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) cov[i * dim + j] = (gram[i * dim + j] as number) / count - (mean[i] as number) * (mean[j] as number);
  }
  return cov;
}

/** A [dim, k] matrix with orthonormal columns spanning the top-k principal directions. */
export async function principalSubspace(
  rows: Float32Array,
  count: number,
  dim: number,
  k: number,
  options: { iterations?: number; seed?: number; session?: SessionOptions } = {},
): Promise<Float32Array> {
  const cov = await covariance(rows, count, dim, options.session);
  const rng = new Rng(options.seed ?? 0);
  const q = Float64Array.from({ length: dim * k }, () => rng.range(-1, 1));
  orthonormalizeColumns(q, dim, k);
  for (let it = 0; it < (options.iterations ?? 4); it++) {
    const next = await matmul(cov, Float32Array.from(q), dim, dim, k, { session: options.session });
    q.set(next);
    orthonormalizeColumns(q, dim, k);
  }
  return Float32Array.from(q);
}
