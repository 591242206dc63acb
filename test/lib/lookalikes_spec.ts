/**
 * Look-alike calibration (lookalikes.ts) on hand-made vectors and levels: which learned images are a
 * part's look-alikes, what they add to its score, what a fit hands over, how a model file keeps
 * them, and the option's defaults and range.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { leaveOneOutNeighbours, type Appearance } from "../../src/lib/anomaly/patchcore/appearance";
import { fitLookalikes, LOOKALIKE_STRENGTH, lookalikeTerm, lookalikeTermOfRows, nearestRows } from "../../src/lib/anomaly/patchcore/lookalikes";
import { parseDetectorOptions } from "../../src/lib/detector";
import { readAppearanceRecord, writeAppearanceRecord } from "../../src/lib/detector/storage/appearance-store";
import { DefectError } from "../../src/lib/errors";
import { readModelFile, writeModelFile, type SectionArray } from "../../src/lib/persist";

/** Ten learned images on a line (2 values each): 0, 1, ..., 9 on the first axis. */
const LINE = Float32Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? i / 2 : 0));
/** Their levels: the first five score 1, the last five 3 (a kind that scores high). */
const LEVELS = [1, 1, 1, 1, 1, 3, 3, 3, 3, 3];

describe("look-alikes: scores calibrated by the learned images most like the part", function () {
  it("finds the k nearest rows, nearest first, leaving one out; fewer when there are fewer rows", () => {
    assert.deepEqual(Array.from(nearestRows(LINE, 10, 2, [6.2, 0], 3)), [6, 7, 5]);
    assert.deepEqual(Array.from(nearestRows(LINE, 10, 2, [6.2, 0], 3, 6)), [7, 5, 8]);
    assert.deepEqual(Array.from(nearestRows(LINE, 2, 2, [6.2, 0], 3)), [1, 0]);
    assert.throws(
      () => nearestRows(LINE, 10, 2, [1, 2, 3], 3),
      (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch",
    );
  });

  it("lowers the score of a part whose look-alikes score high, raises one whose look-alikes score low", () => {
    const model = fitLookalikes(LEVELS, 3);
    assert.ok(model !== null);
    assert.equal(model.mean, 2);
    assert.equal(model.strength, LOOKALIKE_STRENGTH);
    // Near 8: look-alikes 7, 8, 9, all at level 3, one above the mean.
    assert.ok(Math.abs(lookalikeTerm(model, LINE, 2, [8.1, 0]) - -LOOKALIKE_STRENGTH) < 1e-9);
    // Near 1: look-alikes at level 1.
    assert.ok(Math.abs(lookalikeTerm(model, LINE, 2, [1, 0]) - LOOKALIKE_STRENGTH) < 1e-9);
    // Between the kinds (4.6: 5, 4, 6 -> levels 3, 1, 3): a third of a step above the mean.
    assert.ok(Math.abs(lookalikeTerm(model, LINE, 2, [4.6, 0]) - -LOOKALIKE_STRENGTH / 3) < 1e-9);
    assert.equal(lookalikeTermOfRows(model, []), 0);
  });

  it("is not fitted from too few images, a bad count or a level that is not finite", () => {
    assert.equal(fitLookalikes([1, 2, 3], 3), null, "K look-alikes need K + 1 images");
    assert.equal(fitLookalikes(LEVELS, 0), null);
    assert.equal(fitLookalikes(LEVELS, 1.5), null);
    assert.equal(fitLookalikes([...LEVELS.slice(1), Number.NaN], 3), null);
    assert.ok(fitLookalikes([1, 2, 3, 4], 3) !== null);
  });

  it("gives each learned image its nearest others, itself left out, for the leave-one-out scores", async () => {
    const { distances, rows } = await leaveOneOutNeighbours(LINE, 10, 2, 3);
    assert.deepEqual(
      distances.map((d) => Math.round(d * 1e4) / 1e4),
      Array(10).fill(1),
    );
    assert.deepEqual(Array.from(rows[0]!), [1, 2, 3]);
    assert.deepEqual(Array.from(rows[9]!), [8, 7, 6]);
    // In the middle: 4 and 6 at distance 1, then 3 or 7 (both at 2).
    assert.deepEqual(new Set(Array.from(rows[5]!).slice(0, 2)), new Set([4, 6]));
    assert.ok([3, 7].includes(rows[5]![2]!));
    for (const [i, r] of rows.entries()) assert.ok(!Array.from(r).includes(i), `image ${i} is not its own look-alike`);
    // An image at the end of the line, whose look-alikes all score high, gets a lower leave-one-out score.
    const model = fitLookalikes(LEVELS, 3)!;
    assert.ok(lookalikeTermOfRows(model, rows[9]!) < 0 && lookalikeTermOfRows(model, rows[0]!) > 0);
  });

  it("is saved with the appearance model and read back exactly; a model without them is the older record", async () => {
    const appearance: Appearance = { vectors: LINE, count: 10, dim: 2, fitted: 10, mean: 1, deviation: 0.5, patchDeviation: 0.25 };
    const lookalikes = fitLookalikes(LEVELS, 3)!;
    const dir = await mkdtemp(join(tmpdir(), "lookalikes-"));
    try {
      const sections: Record<string, SectionArray> = {};
      const plain: Record<string, SectionArray> = {};
      const record = writeAppearanceRecord({ ...appearance, lookalikes }, sections);
      assert.equal(record["version"], 2);
      assert.equal(writeAppearanceRecord(appearance, plain)["version"], 1, "without look-alikes: readable by packages from before them");
      assert.equal(plain["appearanceLevels"], undefined);
      await writeModelFile(join(dir, "m.bin"), { metadata: { appearance: record }, sections });
      const file = await readModelFile(join(dir, "m.bin"));
      const read = readAppearanceRecord(file, "m.bin", file.metadata["appearance"], 2);
      assert.ok(read?.lookalikes !== undefined);
      assert.deepEqual({ ...read.lookalikes, levels: Array.from(read.lookalikes.levels) }, { ...lookalikes, levels: LEVELS });
      const saved = file.metadata["appearance"] as Record<string, unknown>;
      assert.equal(readAppearanceRecord(file, "m.bin", { ...saved, lookalikes: undefined }, 2)?.lookalikes, undefined);
      const looks = saved["lookalikes"] as Record<string, unknown>;
      for (const bad of [{ ...looks, k: 0 }, { ...looks, k: 10 }, { ...looks, k: 2.5 }, { ...looks, strength: -1 }, { ...looks, mean: "x" }, 7]) {
        assert.throws(
          () => readAppearanceRecord(file, "m.bin", { ...saved, lookalikes: bad }, 2),
          (e: unknown) => e instanceof DefectError && e.code === "modelFileInvalid" && /m\.bin/.test(e.message),
          JSON.stringify(bad),
        );
      }
      const { appearanceLevels: _levels, ...withoutLevels } = sections;
      await writeModelFile(join(dir, "n.bin"), { metadata: { appearance: record }, sections: withoutLevels });
      const missing = await readModelFile(join(dir, "n.bin"));
      assert.throws(
        () => readAppearanceRecord(missing, "n.bin", missing.metadata["appearance"], 2),
        (e: unknown) => e instanceof DefectError && e.code === "modelFileInvalid",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("averages 7 look-alikes with an ONNX backbone and none with the embedded one or few shots unless set, 0 to 50; anything else is refused naming the field", () => {
    const base = { backbone: "b.onnx", layers: "l1" };
    assert.equal(parseDetectorOptions(base).lookalikes, 7);
    assert.equal(parseDetectorOptions({ ...base, lookalikes: "" }).lookalikes, 7, "the editor's empty field");
    assert.equal(parseDetectorOptions({ backbone: "embedded", layers: "stage2" }).lookalikes, 0);
    assert.equal(parseDetectorOptions({ ...base, setting: "fewshot" }).lookalikes, 0);
    assert.equal(parseDetectorOptions({ ...base, lookalikes: "0" }).lookalikes, 0);
    assert.equal(parseDetectorOptions({ ...base, lookalikes: 50 }).lookalikes, 50);
    for (const bad of ["51", "-1", "2.5", "many"]) {
      assert.throws(
        () => parseDetectorOptions({ ...base, lookalikes: bad }),
        (e: unknown) => e instanceof DefectError && e.code === "invalidOption" && e.details["option"] === "lookalikes",
        bad,
      );
    }
  });
});
