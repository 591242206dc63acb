/**
 * Place weights (place-weights.ts) on hand-made leave-one-out distances: the places whose spread
 * over the learned images is above the 90th percentile count less, in proportion, the others not
 * at all; an image's own leave-one-out weights are those of the other images; and the fit's scores
 * handed to the threshold are made with them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BANK_FILE_KIND } from "../../src/lib/anomaly/patchcore/bank-store";
import { freshSnapshot, onlineBankFrom, saveOnlineBank } from "../../src/lib/detector/storage/online-store";
import { writePlacesRecord } from "../../src/lib/detector/storage/places-store";
import { readModelFile, writeModelFile, type SectionArray } from "../../src/lib/persist";
import { PlaceSpread, PLACE_SPREAD_QUANTILE, weighPlaces } from "../../src/lib/anomaly/patchcore/place-weights";
import { fitPlaceWeights } from "../../src/lib/detector/fit/place-fit";
import { DefectError } from "../../src/lib/errors";
import { Rng } from "../../src/lib/random";

const PLACES = 20;

/** Learned images' distances: every place near 1 with a small spread, place 0 spreading 10x as much, place 1 5x. */
function grids(count: number, seed = 1): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () =>
    Float32Array.from({ length: PLACES }, (_, p) => 1 + (p === 0 ? 10 : p === 1 ? 5 : 1) * 0.1 * (rng.next() - 0.5) * (1 + p / PLACES)),
  );
}

function spreadOf(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

describe("place weights", function () {
  it("lowers only the places that spread above the 90th percentile, by that percentile over their spread", function () {
    const learned = grids(40);
    const weights = new PlaceSpread(learned).weights();
    const spreads = Array.from({ length: PLACES }, (_, p) => spreadOf(learned.map((g) => g[p]!)));
    const floor = [...spreads].sort((a, b) => a - b)[Math.floor(PLACE_SPREAD_QUANTILE * PLACES)]!;
    assert.ok(weights[0]! < 0.7, `the widest place counts less: ${weights[0]}`);
    assert.equal(weights[1], 1, "the place at the percentile itself (the second widest of twenty) counts fully");
    for (let p = 0; p < PLACES; p++) {
      const expected = spreads[p]! > floor ? floor / spreads[p]! : 1;
      assert.ok(Math.abs(weights[p]! - expected) < 1e-5, `place ${p}: ${weights[p]} vs ${expected}`);
    }
    assert.equal(weights.filter((w) => w < 1).length, 1, "one place in twenty spreads above the 90th percentile");
    assert.ok(
      weights.every((w) => w > 0 && w <= 1),
      "a weight never raises a distance",
    );
  });

  it("gives an image's leave-one-out weights from the other images alone", function () {
    const learned = grids(25, 3);
    const spread = new PlaceSpread(learned);
    for (const k of [0, 12, 24]) {
      const others = new PlaceSpread(learned.filter((_, i) => i !== k)).weights();
      const left = spread.weights(k);
      for (let p = 0; p < PLACES; p++) assert.ok(Math.abs(left[p]! - others[p]!) < 1e-5, `image ${k}, place ${p}: ${left[p]} vs ${others[p]}`);
    }
  });

  it("weighs distances place by place, and refuses weights of another grid", function () {
    const weights = Float32Array.from({ length: 4 }, (_, p) => (p === 2 ? 0.5 : 1));
    assert.deepEqual(Array.from(weighPlaces(Float32Array.from([2, 2, 2, 2]), weights)), [2, 2, 1, 2]);
    const same = Float32Array.from([1, 2]);
    assert.equal(weighPlaces(same, null), same, "no weights: the distances themselves");
    assert.throws(
      () => weighPlaces(new Float32Array(5), weights),
      (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch" && /cover 4 patches, the image has 5/.test(e.message),
    );
  });

  it("hands the threshold each image's map score with the other images' weights, and the model's from all", async function () {
    // A 4 x 5 grid, a map of 8 x 10: the image score is the map's peak.
    const learned = grids(30, 5);
    const fit = await fitPlaceWeights(learned, { width: 5, height: 4 }, { width: 10, height: 8 }, { imageScore: "map-max", blurSigma: 0 });
    const spread = new PlaceSpread(learned);
    assert.deepEqual(Array.from(fit.places), Array.from(spread.weights()));
    learned.forEach((g, k) => {
      // Without blur the map is the grid upsampled: its peak is the largest weighted distance.
      const expected = Math.max(...weighPlaces(g, spread.weights(k)));
      assert.ok(Math.abs(fit.scores[k]! - expected) < 1e-5, `image ${k}: ${fit.scores[k]} vs ${expected}`);
      assert.deepEqual(Array.from(fit.grids[k]!), Array.from(weighPlaces(g, fit.places)), "kept distances weighted as inspections weigh them");
    });
    const unweighted = learned.map((g) => Math.max(...g));
    assert.ok(fit.scores.reduce((a, b) => a + b, 0) < unweighted.reduce((a, b) => a + b, 0), "the widest place's peaks count less");
  });

  it("are saved with the model, and a record of another version or weights above 1 are refused", async function () {
    const dir = await mkdtemp(join(tmpdir(), "places-"));
    try {
      const bank = { data: new Float32Array(8), size: 2, dim: 4, projection: null };
      const places = Float32Array.from([1, 0.5, 1, 0.25]);
      const path = join(dir, "m.ddm");
      await saveOnlineBank(path, freshSnapshot(bank, { appearance: null, kept: [], places }), {});
      assert.deepEqual(Array.from(onlineBankFrom(await readModelFile(path), path).places ?? []), Array.from(places));
      await saveOnlineBank(path, freshSnapshot(bank), {});
      assert.equal(onlineBankFrom(await readModelFile(path), path).places, null, "a model fitted without them scores every place alike");

      const sections: Record<string, SectionArray> = { bank: bank.data };
      const record = writePlacesRecord(places, sections);
      const metadata = { kind: BANK_FILE_KIND, bank: { size: 2, dim: 4, projectionDim: 0 } };
      await writeModelFile(path, { metadata: { ...metadata, online: { places: { ...record, version: 2 } } }, sections });
      const newer = await readModelFile(path);
      assert.throws(() => onlineBankFrom(newer, path), /places record version 2; this version of the package reads 1/);
      await writeModelFile(path, { metadata: { ...metadata, online: { places: record } }, sections: { ...sections, places: Float32Array.from([1, 2, 1, 1]) } });
      const raised = await readModelFile(path);
      assert.throws(() => onlineBankFrom(raised, path), /place weights outside \(0, 1\]/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
