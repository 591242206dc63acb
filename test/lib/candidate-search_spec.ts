import { strict as assert } from "node:assert";
import { openNearestSearch, type NearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { quantiseBank } from "../../src/lib/anomaly/patchcore/candidate-search";
import { Rng } from "../../src/lib/random";

const DIM = 24;
const OUT = 16;
const SIZE = 2000;

function randomRows(count: number, dim: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => (rng.next() * 2 - 1) * scale);
}

function project(rows: Float32Array, count: number, matrix: Float32Array): Float32Array {
  const out = new Float32Array(count * OUT);
  for (let r = 0; r < count; r++)
    for (let o = 0; o < OUT; o++)
      for (let c = 0; c < DIM; c++) out[r * OUT + o] = (out[r * OUT + o] as number) + (rows[r * DIM + c] as number) * (matrix[c * OUT + o] as number);
  return out;
}

/** Distances in the subspace from one projected query to every projected bank row, nearest first. */
function ranked(bank: Float32Array, query: Float32Array, q: number): Array<[number, number]> {
  const all: Array<[number, number]> = [];
  for (let r = 0; r < SIZE; r++) {
    let s = 0;
    for (let c = 0; c < OUT; c++) s += ((query[q * OUT + c] as number) - (bank[r * OUT + c] as number)) ** 2;
    all.push([Math.sqrt(s), r]);
  }
  return all.sort((a, b) => a[0] - b[0]);
}

describe("subspace search ranked in 8-bit integers, candidates by exact distance", function () {
  const bank = randomRows(SIZE, DIM, 1);
  // A zero row: its integer scale is 0, and it must still be found.
  bank.fill(0, 7 * DIM, 8 * DIM);
  const matrix = randomRows(DIM, OUT, 2, 0.5);
  const projectedBank = project(bank, SIZE, matrix);
  let search: NearestSearch;

  before(async function () {
    search = await openNearestSearch(bank, SIZE, DIM, undefined, { matrix, outDim: OUT });
  });
  after(async function () {
    await search.release();
  });

  it("finds the exact nearest row for all but a few queries, and every distance it gives is the true one to the row it names", async function () {
    const count = 300;
    const queries = randomRows(count, DIM, 3);
    const projected = project(queries, count, matrix);
    const found = await search.search(queries, count, 1);
    let same = 0;
    for (let q = 0; q < count; q++) {
      const all = ranked(projectedBank, projected, q);
      const row = found.indices[q] as number;
      const named = all.find(([, r]) => r === row) as [number, number];
      assert.ok(Math.abs((found.distances[q] as number) - named[0]) < 1e-4, `query ${q}: ${found.distances[q]} is not its distance ${named[0]} to row ${row}`);
      if (row === (all[0] as [number, number])[1]) same++;
    }
    assert.ok(same >= count * 0.99, `the exact nearest row for ${same} of ${count} queries`);
  });

  it("gives the 9 nearest rows in order, as the re-weighting asks", async function () {
    const count = 5;
    const queries = randomRows(count, DIM, 4);
    const projected = project(queries, count, matrix);
    const found = await search.search(queries, count, 9);
    assert.equal(found.k, 9);
    for (let q = 0; q < count; q++) {
      const expected = ranked(projectedBank, projected, q)
        .slice(0, 9)
        .map(([, r]) => r);
      assert.deepEqual(Array.from(found.indices.subarray(q * 9, q * 9 + 9)), expected, `query ${q}`);
    }
  });

  it("answers a query the same whatever else is searched with it (queries quantised by the bank's scale)", async function () {
    const count = 40;
    const queries = randomRows(count, DIM, 5);
    const alone = await search.search(queries, count, 1);
    // The same queries behind 200 far larger ones, some beyond anything in the bank.
    const mixed = new Float32Array((200 + count) * DIM);
    mixed.set(randomRows(200, DIM, 6, 50));
    mixed.set(queries, 200 * DIM);
    const together = await search.search(mixed, 200 + count, 1);
    assert.deepEqual(Array.from(together.indices.subarray(200)), Array.from(alone.indices));
    assert.deepEqual(Array.from(together.distances.subarray(200)), Array.from(alone.distances));
  });

  it("finds a bank row itself, the zero row included", async function () {
    const rows = [0, 7, 1999];
    const queries = new Float32Array(rows.length * DIM);
    rows.forEach((r, i) => queries.set(bank.subarray(r * DIM, r * DIM + DIM), i * DIM));
    const found = await search.search(queries, rows.length, 1);
    assert.deepEqual(Array.from(found.indices), rows);
    for (const d of found.distances) assert.ok(d < 1e-3, `distance ${d} to itself`);
  });

  it("quantises each bank row by its own scale, so a row of tiny values keeps its direction", function () {
    const rows = Float32Array.from([0.0015, -0.002, 0, 3, -8, 2]);
    const q = quantiseBank(rows, 2, 3);
    // Stored transposed and negated: row 0 is -(0.75, -1, 0) x 127.
    assert.deepEqual([q.weights[0], q.weights[2], q.weights[4]], [-95, 127, 0]);
    assert.deepEqual([q.weights[1], q.weights[3], q.weights[5]], [-48, 127, -32]);
    assert.ok(Math.abs((q.rowScales[0] as number) - (2 * 0.002) / 127) < 1e-9);
    assert.ok(Math.abs((q.norms[1] as number) - 77) < 1e-4);
    assert.ok(Math.abs(q.queryScale - 8 / 127) < 1e-9);
  });
});
