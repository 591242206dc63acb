import { strict as assert } from "node:assert";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { Rng } from "../../src/lib/random";

function randomRows(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => rng.next() * 2 - 1);
}

/** The k nearest rows of `bank` to each query by plain loops: what the onnxruntime search must give. */
function bruteForce(bank: Float32Array, size: number, queries: Float32Array, count: number, dim: number, k: number): Array<Array<[number, number]>> {
  const answer: Array<Array<[number, number]>> = [];
  for (let q = 0; q < count; q++) {
    const all: Array<[number, number]> = [];
    for (let r = 0; r < size; r++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += ((queries[q * dim + c] as number) - (bank[r * dim + c] as number)) ** 2;
      all.push([Math.sqrt(s), r]);
    }
    all.sort((a, b) => a[0] - b[0]);
    answer.push(all.slice(0, k));
  }
  return answer;
}

describe("exact nearest-neighbour search (onnxruntime)", () => {
  // 300 queries: more than one block of queries per run, and a last block that is not full.
  for (const [count, k] of [
    [300, 1],
    [300, 3],
    [5, 9],
  ] as const) {
    it(`finds the same ${k} nearest bank rows as a brute-force loop for ${count} queries`, async () => {
      const size = 257;
      const dim = 12;
      const bank = randomRows(size, dim, 1);
      const queries = randomRows(count, dim, 2 + k);
      const search = await openNearestSearch(bank, size, dim);
      try {
        const found = await search.search(queries, count, k);
        assert.equal(found.k, k);
        assert.equal(found.distances.length, count * k);
        const expected = bruteForce(bank, size, queries, count, dim, k);
        for (let q = 0; q < count; q++) {
          for (let j = 0; j < k; j++) {
            const [distance, row] = expected[q]?.[j] as [number, number];
            assert.ok(
              Math.abs((found.distances[q * k + j] as number) - distance) < 1e-4,
              `query ${q} neighbour ${j}: ${found.distances[q * k + j]} vs ${distance}`,
            );
            assert.equal(found.indices[q * k + j], row, `query ${q} neighbour ${j}`);
          }
        }
      } finally {
        await search.release();
      }
    });
  }
});
