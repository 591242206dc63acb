/**
 * Inverse of a symmetric positive-definite matrix through its Cholesky factor A = L Lᵀ:
 * A⁻¹ = L⁻ᵀ L⁻¹. Cholesky is the stable choice for covariances (no pivoting needed, and a
 * failure means the matrix is not positive definite, which a regularised covariance always is
 * unless the features hold NaN or infinities). Work is in float64 so that a covariance
 * with a condition number near 1/regularisation still inverts to float32 accuracy.
 */
import { DefectError } from "../../errors";

/** Scratch buffers for one matrix size, reused across the thousands of positions of a grid. */
export class SpdInverter {
  private readonly l: Float64Array;
  private readonly linv: Float64Array;
  private readonly inv: Float64Array;

  constructor(readonly n: number) {
    this.l = new Float64Array(n * n);
    this.linv = new Float64Array(n * n);
    this.inv = new Float64Array(n * n);
  }

  /**
   * Inverts the n x n row-major matrix at `source[offset ...]` into `target[targetOffset ...]`.
   * Only the lower triangle of the source is read (the matrix is taken to be symmetric).
   */
  invert(source: Float32Array | Float64Array, offset: number, target: Float32Array | Float64Array, targetOffset: number): void {
    const { n, l, linv, inv } = this;
    // Cholesky-Banachiewicz, row by row, so the inner products run over contiguous rows.
    for (let i = 0; i < n; i++) {
      const ri = i * n;
      for (let j = 0; j <= i; j++) {
        const rj = j * n;
        let s = source[offset + ri + j] as number;
        for (let k = 0; k < j; k++) s -= (l[ri + k] as number) * (l[rj + k] as number);
        if (i === j) {
          if (!(s > 0)) {
            throw new DefectError(
              "inferenceFailed",
              `covariance matrix is not positive definite (pivot ${i} of ${n} is ${s}): the features hold NaN, infinite or degenerate values`,
              {
                pivot: i,
                size: n,
              },
            );
          }
          l[ri + i] = Math.sqrt(s);
        } else {
          l[ri + j] = s / (l[rj + j] as number);
        }
      }
      for (let j = i + 1; j < n; j++) l[ri + j] = 0;
    }
    // L⁻¹ row by row: row_i = (e_i - sum_{k<i} L[i][k] row_k) / L[i][i], rows as axpy updates.
    linv.fill(0);
    for (let i = 0; i < n; i++) {
      const ri = i * n;
      linv[ri + i] = 1;
      for (let k = 0; k < i; k++) {
        const f = l[ri + k] as number;
        if (f === 0) continue;
        const rk = k * n;
        for (let j = 0; j <= k; j++) linv[ri + j] = (linv[ri + j] as number) - f * (linv[rk + j] as number);
      }
      const d = l[ri + i] as number;
      for (let j = 0; j <= i; j++) linv[ri + j] = (linv[ri + j] as number) / d;
    }
    // A⁻¹ = sum over rows k of L⁻¹ of row_kᵀ row_k (outer products of contiguous rows), lower triangle.
    inv.fill(0);
    for (let k = 0; k < n; k++) {
      const rk = k * n;
      for (let i = 0; i <= k; i++) {
        const f = linv[rk + i] as number;
        const ri = i * n;
        for (let j = 0; j <= i; j++) inv[ri + j] = (inv[ri + j] as number) + f * (linv[rk + j] as number);
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const v = inv[i * n + j] as number;
        target[targetOffset + i * n + j] = v;
        target[targetOffset + j * n + i] = v;
      }
    }
  }
}

/** Inverse of one symmetric positive-definite n x n matrix (row-major). */
export function invertSpd(matrix: Float32Array | Float64Array, n: number): Float64Array {
  if (matrix.length !== n * n) throw new RangeError(`matrix holds ${matrix.length} values, expected ${n} x ${n}`);
  const out = new Float64Array(n * n);
  new SpdInverter(n).invert(matrix, 0, out, 0);
  return out;
}
