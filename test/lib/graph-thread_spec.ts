/**
 * Large banks' search and scoring graphs are serialised on a worker thread (graph-thread.ts), not
 * on Node-RED's: the bytes must be the graph built in place, a bad spec must fail with its own
 * message, and a search opened over a large bank must still find the right rows.
 */
import { strict as assert } from "node:assert";
import { buildGraph, buildGraphOffThread, type GraphJob } from "../../src/lib/anomaly/patchcore/graph-thread";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { Rng } from "../../src/lib/random";

// Above the in-place limit (2^18 values): these go to a worker.
const SIZE = 2100;
const DIM = 128;

function randomRows(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => rng.next() * 2 - 1);
}

describe("graphs of large banks built off the main thread", () => {
  const bank = randomRows(SIZE, DIM, 7);

  it("gives the same bytes as building the nearest-row search in place", async () => {
    const job: GraphJob = { kind: "nearest", bank, size: SIZE, dim: DIM, inputDim: DIM };
    const off = await buildGraphOffThread(job);
    assert.ok(off.length > SIZE * DIM * 4, `a graph of ${off.length} bytes cannot hold the bank`);
    assert.deepEqual(Buffer.from(off), Buffer.from(buildGraph(job)));
    assert.equal(bank.length, SIZE * DIM, "the caller keeps its bank");
  });

  it("gives the same bytes for a projected scoring graph", async () => {
    const projection = { matrix: randomRows(DIM, 16, 8), outDim: 16 };
    const searchBank = randomRows(SIZE * 8, 16, 9);
    const job: GraphJob = {
      kind: "scoring",
      spec: {
        layers: [{ name: "layer", channels: DIM, height: 8, width: 8 }],
        pool: 3,
        searchBank,
        size: SIZE * 8,
        projection,
        neighbours: 3,
        embedding: false,
      },
    };
    assert.deepEqual(Buffer.from(await buildGraphOffThread(job)), Buffer.from(buildGraph(job)));
  });

  it("fails with the builder's own message for a bank of the wrong size", async () => {
    const job: GraphJob = {
      kind: "scoring",
      spec: { layers: [{ name: "layer", channels: DIM, height: 8, width: 8 }], pool: 3, searchBank: bank, size: SIZE + 1, neighbours: 1, embedding: false },
    };
    await assert.rejects(buildGraphOffThread(job), /search bank holds 268800 values, expected 2101 x 128/);
  });

  it("opens a search over a large bank that finds each row itself", async () => {
    const search = await openNearestSearch(bank, SIZE, DIM);
    try {
      const rows = [0, 1, 777, SIZE - 1];
      const queries = new Float32Array(rows.length * DIM);
      rows.forEach((r, i) => queries.set(bank.subarray(r * DIM, (r + 1) * DIM), i * DIM));
      const found = await search.search(queries, rows.length, 1);
      assert.deepEqual([...found.indices], rows);
      for (const d of found.distances) assert.ok(d < 1e-2, `distance to itself ${d}`);
    } finally {
      await search.release();
    }
  });
});
