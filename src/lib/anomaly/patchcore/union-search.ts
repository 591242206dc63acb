/**
 * One nearest search over the union of several: each part searches its own rows, and the k
 * nearest of all their answers are kept, with each part's rows numbered as in the whole set.
 * The few-shot calibration scores every shot against the bank without the shot's own rows: with
 * one search a shot's rows, the bank minus any shot is a union of the others, so no bank is
 * copied and no search built again per shot.
 */
import type { NearestSearch, Neighbours } from "./nearest";

export interface SearchPart {
  search: NearestSearch;
  /** The whole set's row number of each of the part's rows. */
  rows: Int32Array;
}

/** Releasing it releases none of the parts: they are shared. */
export function unionSearch(parts: readonly SearchPart[], dim: number): NearestSearch {
  const bankSize = parts.reduce((n, p) => n + p.rows.length, 0);
  return {
    bankSize,
    dim,
    async search(queries, count, k): Promise<Neighbours> {
      const kk = Math.min(k, bankSize);
      const answers = [];
      for (const part of parts) answers.push({ rows: part.rows, found: await part.search.search(queries, count, kk) });
      const distances = new Float32Array(count * kk);
      const indices = new Int32Array(count * kk);
      const candidates: Array<{ distance: number; row: number }> = [];
      for (let q = 0; q < count; q++) {
        candidates.length = 0;
        for (const { rows, found } of answers) {
          for (let j = 0; j < found.k; j++) {
            const at = q * found.k + j;
            candidates.push({ distance: found.distances[at] as number, row: rows[found.indices[at] as number] as number });
          }
        }
        // Nearest first; equal distances by row, as one search over the whole set breaks its ties.
        candidates.sort((a, b) => a.distance - b.distance || a.row - b.row);
        for (let j = 0; j < kk; j++) {
          const c = candidates[j] as { distance: number; row: number };
          distances[q * kk + j] = c.distance;
          indices[q * kk + j] = c.row;
        }
      }
      return { distances, indices, k: kk };
    },
    release: async () => undefined,
  };
}
