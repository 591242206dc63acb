import { strict as assert } from "node:assert";
import {
  appearanceScale,
  appearanceTerm,
  fitAppearance,
  keptImages,
  leaveOneOutNeighbours,
  MAX_FITTED_APPEARANCE,
  leaveOneOutWithAppearance,
  MAX_APPEARANCE_VECTORS,
  meanFeatures,
  nearestDistance,
  withConfirmedGood,
} from "../../src/lib/anomaly/patchcore/appearance";
import { readAppearanceRecord, writeAppearanceRecord } from "../../src/lib/detector/storage/appearance-store";
import { DefectError } from "../../src/lib/errors";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import { readModelFile, writeModelFile, type SectionArray } from "../../src/lib/persist";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Five learned images' mean vectors on a line (dim 2): 0, 1, 2, 3, 10 along x. */
const LINE = Float32Array.from([0, 0, 1, 0, 2, 0, 3, 0, 10, 0]);
/** Each one's distance to the nearest other. */
const LINE_LOO = [1, 1, 1, 1, 7];
const meanDev = (xs: number[]): [number, number] => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return [m, Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length)];
};

describe("appearance: the whole part's mean features beside PatchCore's patches", () => {
  it("averages an image's patch features, one value a channel", () => {
    const embedding = { data: Float32Array.from([1, 10, 3, 20, 5, 60]), patches: 3, dim: 2 };
    assert.deepEqual(Array.from(meanFeatures(embedding)), [3, 30]);
  });

  it("measures the distance to the nearest vector, leaving one out on request", () => {
    assert.equal(nearestDistance(LINE, 5, 2, [2.5, 0]), 0.5);
    assert.equal(nearestDistance(LINE, 5, 2, [10, 0], 4), 7, "without itself: the nearest other is 3");
    assert.throws(
      () => nearestDistance(LINE, 5, 2, [1, 2, 3]),
      (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch",
    );
  });

  it("finds each learned vector's nearest other on a session worker, as the direct search does", async () => {
    assert.deepEqual(
      (await leaveOneOutNeighbours(LINE, 5, 2, 1)).distances.map((d) => Math.round(d * 1e4) / 1e4),
      LINE_LOO,
    );
    // 200 vectors of 1,536 values, the size of a default fit, with two duplicates.
    const dim = 1536;
    const count = 200;
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4;
    const vectors = Float32Array.from({ length: count * dim }, random);
    vectors.copyWithin(5 * dim, 9 * dim, 10 * dim);
    const found = (await leaveOneOutNeighbours(vectors, count, dim, 1)).distances;
    // float32 rounding is absolute in squared distance: compared at the scale of the distances.
    const typical = [...found].sort((a, b) => a - b)[count >> 1]!;
    for (let i = 0; i < count; i++) {
      const direct = nearestDistance(vectors, count, dim, vectors.subarray(i * dim, (i + 1) * dim), i);
      assert.ok(Math.abs(found[i]! - direct) <= 1e-3 * typical, `vector ${i}: ${found[i]} against ${direct}`);
    }
    assert.ok(found[5]! < 1e-3 * typical && found[9]! < 1e-3 * typical, `a duplicate is at distance 0: ${found[5]}, ${found[9]} (typical ${typical})`);
    assert.deepEqual((await leaveOneOutNeighbours(LINE, 1, 2, 1)).distances, []);
  });

  it("keeps at most MAX_FITTED_APPEARANCE of a large fit's images, evenly spread, and measures every image against them", async () => {
    const images = 450;
    // Image i at (x_i, 0), gaps growing along the line: its nearest kept other is known exactly.
    const x = (i: number): number => i + (i * i) / 900;
    const vectors = new Float32Array(images * 2);
    for (let i = 0; i < images; i++) vectors[2 * i] = x(i);
    const kept = keptImages(images);
    assert.equal(kept.length, MAX_FITTED_APPEARANCE);
    assert.deepEqual([kept[0], kept[1], kept[399]], [0, 1, 448]);
    assert.deepEqual(Array.from(keptImages(7)), [0, 1, 2, 3, 4, 5, 6]);
    const distances = (await leaveOneOutNeighbours(vectors, images, 2, 1)).distances;
    const keptSet = new Set(kept);
    for (let i = 0; i < images; i++) {
      let nearest = Infinity;
      for (const k of kept) if (k !== i) nearest = Math.min(nearest, Math.abs(x(k) - x(i)));
      assert.ok(Math.abs(distances[i]! - nearest) < 1e-2, `image ${i}${keptSet.has(i) ? " (kept)" : ""}: ${distances[i]} against ${nearest}`);
    }
    const model = fitAppearance(
      vectors,
      images,
      2,
      distances,
      distances.map((d, i) => 1 + (i % 3)),
    );
    assert.ok(model !== null);
    assert.deepEqual([model.count, model.fitted], [MAX_FITTED_APPEARANCE, MAX_FITTED_APPEARANCE]);
    assert.equal(model.vectors[2 * 399], Math.fround(x(448)), "the kept images' vectors, in order");
  });

  it("fits from leave-one-out distances, and puts the term on the patch scores' scale", () => {
    const patchLoo = [1, 2, 1, 2, 1];
    const model = fitAppearance(LINE, 5, 2, LINE_LOO, patchLoo);
    assert.ok(model !== null);
    // Leave-one-out distances: 1, 1, 1, 1, 7.
    const [mean, deviation] = meanDev([1, 1, 1, 1, 7]);
    assert.ok(Math.abs(model.mean - mean) < 1e-12 && Math.abs(model.deviation - deviation) < 1e-12);
    assert.ok(Math.abs(model.patchDeviation - meanDev(patchLoo)[1]) < 1e-12);
    assert.equal(model.fitted, 5);
    // S = S_patch + w / (1 - w) * sd_p / sd_a * (a - m_a).
    const w = 0.25;
    const scale = (w / (1 - w)) * (model.patchDeviation / model.deviation);
    assert.ok(Math.abs(appearanceScale(model, w) - scale) < 1e-12);
    const term = appearanceTerm(model, w, [20, 0]);
    assert.ok(Math.abs(term - scale * (10 - mean)) < 1e-9, `term ${term}`);
    assert.ok(appearanceTerm(model, w, [1, 0]) < 0, "a part that looks more typical than most lowers its score");
    assert.equal(appearanceTerm(model, 0, [20, 0]), 0, "weight 0: the patches alone");
  });

  it("ranks parts as (1 - w) z_patch + w z_appearance would", () => {
    const patchLoo = [1, 2, 1.5, 2, 1];
    const model = fitAppearance(LINE, 5, 2, LINE_LOO, patchLoo);
    assert.ok(model !== null);
    const w = 0.4;
    const [mp, sp] = meanDev(patchLoo);
    const parts = [
      { patch: 1.2, vector: [11, 0] },
      { patch: 3.0, vector: [0.5, 0] },
      { patch: 2.0, vector: [6, 0] },
      { patch: 0.8, vector: [30, 0] },
    ];
    const ours = parts.map((p) => p.patch + appearanceTerm(model, w, p.vector));
    const z = parts.map((p) => (1 - w) * ((p.patch - mp) / sp) + w * ((nearestDistance(LINE, 5, 2, p.vector) - model.mean) / model.deviation));
    const order = (xs: number[]): number[] => xs.map((_, i) => i).sort((a, b) => (xs[a] as number) - (xs[b] as number));
    assert.deepEqual(order(ours), order(z));
  });

  it("hands the threshold leave-one-out scores with the term, each image without its own vector", () => {
    const patchLoo = [1, 2, 1, 2, 1];
    const model = fitAppearance(LINE, 5, 2, LINE_LOO, patchLoo);
    assert.ok(model !== null);
    const scale = appearanceScale(model, 0.25);
    const handed = leaveOneOutWithAppearance(model, 0.25, patchLoo, LINE_LOO);
    const expected = patchLoo.map((s, i) => s + scale * (LINE_LOO[i]! - model.mean));
    handed.forEach((s, i) => assert.ok(Math.abs(s - expected[i]!) < 1e-9, `image ${i}: ${s} against ${expected[i]}`));
    assert.deepEqual(leaveOneOutWithAppearance(model, 0, patchLoo, LINE_LOO), patchLoo);
  });

  it("learns nothing from too few images, mismatched scores or images that all look alike", () => {
    assert.equal(fitAppearance(LINE.subarray(0, 8), 4, 2, [1, 1, 1, 1], [1, 2, 1, 2]), null, "4 images");
    assert.equal(fitAppearance(LINE, 5, 2, LINE_LOO, [1, 2, 1, 2]), null, "a score missing");
    assert.equal(fitAppearance(new Float32Array(10).fill(1), 5, 2, [0, 0, 0, 0, 0], [1, 2, 1, 2, 1]), null, "no appearance deviation");
    assert.equal(fitAppearance(LINE, 5, 2, LINE_LOO, [1, 1, 1, 1, 1]), null, "no patch-score deviation");
  });

  it("adds confirmed good parts, dropping the oldest confirmed (never a fitted one) beyond the cap", () => {
    const model = fitAppearance(LINE, 5, 2, LINE_LOO, [1, 2, 1, 2, 1]);
    assert.ok(model !== null);
    const added = withConfirmedGood(model, Float32Array.from([20, 0]));
    assert.equal(added.count, 6);
    assert.equal(appearanceTerm(added, 0.25, [20, 0]), appearanceScale(model, 0.25) * (0 - model.mean), "a confirmed look is at distance 0");
    assert.equal(model.count, 5, "the model it came from is unchanged");
    let many = model;
    for (let i = 0; i < MAX_APPEARANCE_VECTORS + 3; i++) many = withConfirmedGood(many, Float32Array.from([100 + i, 0]));
    assert.equal(many.count, MAX_APPEARANCE_VECTORS);
    assert.deepEqual(Array.from(many.vectors.subarray(0, 10)), Array.from(LINE), "the fitted vectors stay");
    // 5 fitted + MAX + 3 confirmed, MAX kept: the 8 oldest confirmed went.
    assert.equal(many.vectors[5 * 2], 108, "the oldest confirmed went first");
    assert.equal(many.vectors[(MAX_APPEARANCE_VECTORS - 1) * 2], 100 + MAX_APPEARANCE_VECTORS + 2);
    assert.throws(
      () => withConfirmedGood(model, Float32Array.from([1, 2, 3])),
      (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch",
    );
  });

  it("is saved and read back exactly; a bad record is a clear model-file error", async () => {
    const model = withConfirmedGood(fitAppearance(LINE, 5, 2, LINE_LOO, [1, 2, 1.5, 2, 1])!, Float32Array.from([7, 7]));
    const sections: Record<string, SectionArray> = {};
    const dir = await mkdtemp(join(tmpdir(), "appearance-"));
    let file;
    try {
      await writeModelFile(join(dir, "m.bin"), { metadata: { appearance: writeAppearanceRecord(model, sections) }, sections });
      file = await readModelFile(join(dir, "m.bin"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const record = file.metadata["appearance"] as Record<string, unknown>;
    const read = readAppearanceRecord(file, "m.bin", record, 2);
    assert.ok(read !== null);
    assert.deepEqual({ ...read, vectors: Array.from(read.vectors) }, { ...model, vectors: Array.from(model.vectors) });
    assert.equal(readAppearanceRecord(file, "m.bin", undefined, 2), null, "a file saved without one");
    for (const bad of [{ ...record, version: 3 }, { ...record, deviation: 0 }, { ...record, fitted: 9 }, "x"]) {
      assert.throws(
        () => readAppearanceRecord(file, "m.bin", bad, 2),
        (e: unknown) => e instanceof DefectError && e.code === "modelFileInvalid" && /m\.bin/.test(e.message),
      );
    }
  });

  it("is weighted 0.25 with an ONNX backbone and 0 with the embedded one unless set, 0 to 0.9; anything else is refused naming the field", () => {
    const base = { backbone: "b.onnx", layers: "l1" };
    assert.equal(parseDetectorOptions(base).appearanceWeight, 0.25);
    assert.equal(parseDetectorOptions({ ...base, appearanceWeight: "" }).appearanceWeight, 0.25, "the editor's empty field");
    assert.equal(parseDetectorOptions(base).patchcore.imageScore, "map-top-mean");
    // The embedded backbone's validation chose the paper's score without appearance.
    const embedded = parseDetectorOptions({ backbone: "embedded", layers: "stage2,stage3" });
    assert.equal(embedded.appearanceWeight, 0);
    assert.equal(embedded.patchcore.imageScore, "reweighted");
    assert.equal(parseDetectorOptions({ backbone: "embedded", layers: "stage2", appearanceWeight: "0.5" }).appearanceWeight, 0.5);
    assert.equal(parseDetectorOptions({ ...base, setting: "fewshot" }).patchcore.imageScore, "map-max");
    assert.equal(parseDetectorOptions({ ...base, appearanceWeight: "0" }).appearanceWeight, 0);
    assert.equal(parseDetectorOptions({ ...base, appearanceWeight: "0.9" }).appearanceWeight, 0.9);
    for (const bad of ["1", "-0.1", "abc", "NaN"]) {
      assert.throws(
        () => parseDetectorOptions({ ...base, appearanceWeight: bad }),
        (e: unknown) => e instanceof DefectError && e.code === "invalidOption" && e.details["option"] === "appearanceWeight",
        bad,
      );
    }
  });
});
