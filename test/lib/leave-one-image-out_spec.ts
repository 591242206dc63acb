/**
 * The unsupervised setting's calibration scores: each learned image against the fitted bank
 * without its own rows, from the bank's one search asked for more neighbours
 * (excluding-search.ts), checked against scoring each image on a copy of the bank without its
 * rows, as the definition reads, with exact search and in a projected subspace.
 */
import assert from "node:assert/strict";
import { excludingSearch } from "../../src/lib/anomaly/patchcore/excluding-search";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { searchProjection } from "../../src/lib/anomaly/patchcore/bank-select";
import { DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { leaveOneImageOutScores } from "../../src/lib/detector/fit/leave-one-image-out";
import { Rng } from "../../src/lib/random";

const DIM = 12;
const GRID = 4;

function rows(count: number, rng: Rng, centre = 0): Float32Array {
  return Float32Array.from({ length: count * DIM }, () => centre + rng.range(-1, 1));
}

/** The bank without the rows `drop` says, its search subspace kept (the model's own). */
function without(bank: MemoryBank, drop: (row: number) => boolean): MemoryBank {
  const keep = Array.from({ length: bank.size }, (_, r) => r).filter((r) => !drop(r));
  const data = new Float32Array(keep.length * DIM);
  keep.forEach((r, i) => data.set(bank.data.subarray(r * DIM, r * DIM + DIM), i * DIM));
  return { data, size: keep.length, dim: DIM, projection: bank.projection };
}

describe("leave-one-image-out calibration", function () {
  it("a search without some rows finds the k nearest of the rest, numbered as in the whole bank", async function () {
    const rng = new Rng(5);
    const all = rows(50, rng);
    const whole = await openNearestSearch(all, 50, DIM);
    try {
      const excluded = (row: number): boolean => row % 3 === 0;
      const count = Array.from({ length: 50 }, (_, r) => r).filter(excluded).length;
      const queries = rows(6, rng);
      const found = await excludingSearch(whole, excluded, count).search(queries, 6, 4);
      const reference = await whole.search(queries, 6, 50);
      assert.equal(found.k, 4);
      for (let q = 0; q < 6; q++) {
        const expected = Array.from(reference.indices.subarray(q * 50, q * 50 + 50))
          .filter((r) => !excluded(r))
          .slice(0, 4);
        assert.deepEqual(Array.from(found.indices.subarray(q * 4, q * 4 + 4)), expected, `query ${q}`);
      }
    } finally {
      await whole.release();
    }
  });

  for (const scoringDim of [0, 6]) {
    it(`scores each image as a scorer over the bank without its rows does (${scoringDim === 0 ? "exact" : "subspace"} search)`, async function () {
      const rng = new Rng(17 + scoringDim);
      const images = 4;
      const perImage = 15;
      // Each image's rows around its own centre, so leaving an image out changes its nearest rows.
      const owners = Int32Array.from({ length: images * perImage }, (_, i) => i % images);
      const data = new Float32Array(owners.length * DIM);
      owners.forEach((owner, r) => data.set(rows(1, rng, owner * 0.3), r * DIM));
      const base: PatchCoreOptions = { ...DEFAULT_PATCHCORE_OPTIONS, numNeighbors: 3, scoringDim };
      const bank: MemoryBank = { data, size: owners.length, dim: DIM, projection: await searchProjection(data, owners.length, DIM, base, {}) };
      assert.equal(bank.projection === null, scoringDim === 0);
      const features = Array.from({ length: images }, (_, s) => rows(GRID * GRID, rng, s * 0.3));
      const embed = async (image: number) => ({ data: features[image] as Float32Array, patches: GRID * GRID, dim: DIM, gridWidth: GRID, gridHeight: GRID });
      for (const imageScore of ["reweighted", "map-max"] as const) {
        const options = { ...base, imageScore };
        const input = { owners, images, embed, map: { width: 16, height: 16 } };
        const scores = await leaveOneImageOutScores(bank, input, options, {}, new AbortController().signal);
        assert.equal(scores.length, images);
        for (let image = 0; image < images; image++) {
          const scorer = await PatchCoreScorer.open(
            without(bank, (r) => owners[r] === image),
            options,
          );
          try {
            const expected = (await scorer.scoreImage(await embed(image), 16, 16)).score;
            assert.ok(
              Math.abs((scores[image] as number) - expected) <= 1e-5 * Math.max(1, Math.abs(expected)),
              `${imageScore} image ${image}: ${scores[image]} vs ${expected}`,
            );
          } finally {
            await scorer.release();
          }
        }
      }
    });
  }

  it("scores learned images higher than the whole bank does (each finds itself there), and stops when aborted", async function () {
    const rng = new Rng(23);
    const owners = Int32Array.from({ length: 40 }, (_, i) => i % 4);
    const features = Array.from({ length: 4 }, () => rows(GRID * GRID, rng));
    // The bank holds every image's patches themselves: against it, each image scores 0.
    const data = new Float32Array(40 * DIM);
    owners.forEach((owner, r) => data.set((features[owner] as Float32Array).subarray(Math.floor(r / 4) * DIM, Math.floor(r / 4) * DIM + DIM), r * DIM));
    const bank: MemoryBank = { data, size: 40, dim: DIM, projection: null };
    const embed = async (image: number) => ({ data: features[image] as Float32Array, patches: GRID * GRID, dim: DIM, gridWidth: GRID, gridHeight: GRID });
    const options = { ...DEFAULT_PATCHCORE_OPTIONS, scoringDim: 0, numNeighbors: 1 };
    const scores = await leaveOneImageOutScores(bank, { owners, images: 4, embed, map: { width: 16, height: 16 } }, options, {}, new AbortController().signal);
    assert.ok(
      scores.every((s) => s > 0.1),
      `left out, each image is scored by other images' rows: ${scores.join(", ")}`,
    );
    const stopped = new AbortController();
    stopped.abort();
    await assert.rejects(leaveOneImageOutScores(bank, { owners, images: 4, embed, map: { width: 16, height: 16 } }, options, {}, stopped.signal), /stopped/);
    // An image that brought every row has nothing to be scored against.
    const alone = await leaveOneImageOutScores(
      bank,
      { owners: new Int32Array(40), images: 1, embed, map: { width: 16, height: 16 } },
      options,
      {},
      new AbortController().signal,
    );
    assert.deepEqual(alone, []);
  });
});
