/**
 * One nearest search over a bank without some of its rows: the bank's own search is asked for as
 * many more neighbours as there are left-out rows, and the left-out ones are dropped from each
 * answer. At least k of the answer's rows are then kept, so the k nearest kept rows are exactly
 * the k nearest of the bank without the left-out rows, in the same search space and with the
 * same tie order. The leave-one-image-out calibration scores each learned image against its bank
 * this way: no copy of a 10,000-row bank, no search built once per image.
 */
import type { NearestSearch, Neighbours } from "./nearest";

/** `excluded(row)`: whether a bank row is left out; `count`: how many are. Releasing it releases nothing: `inner` is shared. */
export function excludingSearch(inner: NearestSearch, excluded: (row: number) => boolean, count: number): NearestSearch {
  const bankSize = inner.bankSize - count;
  return {
    bankSize,
    dim: inner.dim,
    async search(queries, queryCount, k): Promise<Neighbours> {
      const kk = Math.max(0, Math.min(k, bankSize));
      const found = await inner.search(queries, queryCount, kk + count);
      const distances = new Float32Array(queryCount * kk);
      const indices = new Int32Array(queryCount * kk);
      for (let q = 0; q < queryCount; q++) {
        let kept = 0;
        for (let j = 0; j < found.k && kept < kk; j++) {
          const row = found.indices[q * found.k + j] as number;
          if (excluded(row)) continue;
          distances[q * kk + kept] = found.distances[q * found.k + j] as number;
          indices[q * kk + kept] = row;
          kept++;
        }
      }
      return { distances, indices, k: kk };
    },
    release: async () => undefined,
  };
}
