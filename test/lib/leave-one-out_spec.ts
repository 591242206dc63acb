/**
 * The few-shot calibration's scores: each shot against the bank without its own rows, computed
 * from one search a shot (union-search.ts) and checked against scoring each shot on a copy of the
 * bank without its rows, as the definition reads.
 */
import assert from "node:assert/strict";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { unionSearch } from "../../src/lib/anomaly/patchcore/union-search";
import { leaveOneOutScores } from "../../src/lib/detector/fit/leave-one-out";
import { Rng } from "../../src/lib/random";

const DIM = 12;
const GRID = 4;

function rows(count: number, rng: Rng, centre = 0): Float32Array {
  return Float32Array.from({ length: count * DIM }, () => centre + rng.range(-1, 1));
}

describe("few-shot leave-one-out calibration", function () {
  it("a union of searches finds the k nearest rows of the union, numbered as in the whole set", async function () {
    const rng = new Rng(3);
    const all = rows(60, rng);
    const whole = await openNearestSearch(all, 60, DIM);
    const first = Int32Array.from({ length: 25 }, (_, i) => i * 2);
    const second = Int32Array.from({ length: 30 }, (_, i) => i * 2 + 1);
    const part = async (ids: Int32Array) => {
      const data = new Float32Array(ids.length * DIM);
      ids.forEach((r, i) => data.set(all.subarray(r * DIM, r * DIM + DIM), i * DIM));
      return { search: await openNearestSearch(data, ids.length, DIM), rows: ids };
    };
    const parts = [await part(first), await part(second)];
    try {
      const queries = rows(7, rng);
      const union = await unionSearch(parts, DIM).search(queries, 7, 5);
      // The whole set's answer, keeping the rows of the union (55 of 60: all but the even rows from 50 on).
      const inUnion = new Set([...first, ...second]);
      const reference = await whole.search(queries, 7, 60);
      for (let q = 0; q < 7; q++) {
        const expected: number[] = [];
        for (let j = 0; j < 60 && expected.length < 5; j++) {
          const row = reference.indices[q * 60 + j] as number;
          if (inUnion.has(row)) expected.push(row);
        }
        assert.deepEqual(Array.from(union.indices.subarray(q * 5, q * 5 + 5)), expected, `query ${q}`);
      }
    } finally {
      await whole.release();
      for (const p of parts) await p.search.release();
    }
  });

  it("scores each shot as a scorer over the bank without that shot's rows does", async function () {
    const rng = new Rng(11);
    const shots = 4;
    const perShot = 20;
    // Each shot's rows around its own centre, so leaving a shot out changes its nearest rows.
    const owners = Int32Array.from({ length: shots * perShot }, (_, i) => i % shots);
    const data = new Float32Array(owners.length * DIM);
    owners.forEach((owner, r) => data.set(rows(1, rng, owner * 0.3), r * DIM));
    const bank = { data, size: owners.length, dim: DIM, projection: null };
    const features = Array.from({ length: shots }, (_, s) => rows(GRID * GRID, rng, s * 0.3));
    const input = { owners, shots: features, grid: { width: GRID, height: GRID }, map: { width: 16, height: 16 } };
    for (const imageScore of ["reweighted", "map-max"] as const) {
      const options: PatchCoreOptions = { ...DEFAULT_PATCHCORE_OPTIONS, numNeighbors: 3, imageScore };
      const leftOut = await leaveOneOutScores(bank, input, options, {});
      assert.deepEqual(
        leftOut.map((l) => l.shot),
        [0, 1, 2, 3],
      );
      const scores = leftOut.map((l) => l.score);
      for (let s = 0; s < shots; s++) {
        const keep = Array.from(owners.keys()).filter((r) => owners[r] !== s);
        const left = new Float32Array(keep.length * DIM);
        keep.forEach((r, i) => left.set(data.subarray(r * DIM, r * DIM + DIM), i * DIM));
        const scorer = await PatchCoreScorer.open({ data: left, size: keep.length, dim: DIM, projection: null }, options);
        try {
          const embedding = { data: features[s] as Float32Array, patches: GRID * GRID, dim: DIM, gridWidth: GRID, gridHeight: GRID };
          const scored = await scorer.scoreImage(embedding, 16, 16);
          const expected = scored.score;
          const grid = leftOut[s]!.grid;
          assert.ok(
            grid.every((d, p) => Math.abs(d - (scored.grid.data[p] as number)) <= 1e-5 * Math.max(1, d)),
            `shot ${s}: its patch distances without its rows`,
          );
          assert.ok(
            Math.abs((scores[s] as number) - expected) <= 1e-5 * Math.max(1, Math.abs(expected)),
            `${imageScore} shot ${s}: ${scores[s]} vs ${expected}`,
          );
        } finally {
          await scorer.release();
        }
      }
    }
    assert.deepEqual(
      await leaveOneOutScores(bank, { ...input, shots: features.slice(0, 1) }, DEFAULT_PATCHCORE_OPTIONS, {}),
      [],
      "one shot: nothing to leave out",
    );
  });
});
