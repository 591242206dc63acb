/**
 * Banks' search and scoring graphs are built by the session worker that loads them
 * (bank-graphs.ts), not serialised on Node-RED's thread: a search over a large bank must still
 * find the right rows, a bad job must fail with the builder's own message, and a worker that dies
 * must leave a search that is built again on the next worker (its bank staged again).
 */
import { strict as assert } from "node:assert";
import { acquireBankGraph } from "../../src/lib/anomaly/patchcore/bank-graphs";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { sessionPool } from "../../src/lib/onnx";
import { Rng } from "../../src/lib/random";

/** 4.6 MB of rows: large enough to go to the worker in staged blocks (staging.ts). */
const SIZE = 9000;
const DIM = 128;

function randomRows(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => rng.next() * 2 - 1);
}

function rowsOf(bank: Float32Array, rows: readonly number[]): Float32Array {
  const queries = new Float32Array(rows.length * DIM);
  rows.forEach((r, i) => queries.set(bank.subarray(r * DIM, (r + 1) * DIM), i * DIM));
  return queries;
}

describe("bank graphs built on the session worker", () => {
  const bank = randomRows(SIZE, DIM, 7);
  const rows = [0, 1, 777, SIZE - 1];

  it("opens a search over a large bank that finds each row itself, and the caller keeps its bank", async () => {
    const search = await openNearestSearch(bank, SIZE, DIM);
    try {
      const found = await search.search(rowsOf(bank, rows), rows.length, 1);
      assert.deepEqual([...found.indices], rows);
      for (const d of found.distances) assert.ok(d < 1e-2, `distance to itself ${d}`);
      assert.equal(bank.length, SIZE * DIM);
    } finally {
      await search.release();
    }
  });

  it("fails with the builder's own message for a bank of the wrong size", async () => {
    const job = {
      kind: "scoring",
      spec: { layers: [{ name: "layer", channels: DIM, height: 8, width: 8 }], pool: 3, searchBank: bank, size: SIZE + 1, neighbours: 1, embedding: false },
    } as const;
    await assert.rejects(acquireBankGraph("bad-bank", job, {}), /search bank holds 1152000 values, expected 9001 x 128/);
  });

  it("builds the search again on a new worker when its worker dies", async () => {
    const search = await openNearestSearch(bank, SIZE, DIM);
    try {
      for (const worker of sessionPool.live) await worker.kill();
      const found = await search.search(rowsOf(bank, rows), rows.length, 1);
      assert.deepEqual([...found.indices], rows);
    } finally {
      await search.release();
    }
  });
});
