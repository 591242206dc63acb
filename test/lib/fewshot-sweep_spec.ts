/**
 * The few-shot sweep behind `npm run bench:fewshot`, on the package's synthetic parts with the
 * tiny backbone: one row per setting and K, the few-shot preset scoring by the map's peak, the
 * cached test features reused, and another seed drawing other variants and another coreset.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fewShotTable, runFewShotSweep, type FewShotSetting, type FewShotSweepOptions } from "../../src/offline/eval/fewshot-sweep";
import { writeSyntheticDataset } from "../../src/offline/synth";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const SIZE = 64;

describe("few-shot sweep (bench:fewshot)", function () {
  this.timeout(120_000);
  let dir = "";
  let options: FewShotSweepOptions;
  const plain: FewShotSetting = { label: "plain", augment: null, coresetRatio: 0.1 };
  const preset: FewShotSetting = {
    label: "preset",
    augment: { mode: "on", rotations: [], maxShots: 2 },
    coresetRatio: 0.1,
    standardize: true,
    imageScore: "map-max",
  };

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "fewshot-sweep-"));
    await writeSyntheticDataset({ out: join(dir, "data"), kinds: ["cast-surface"], count: 4, size: SIZE, seed: 2, defects: ["hole", "spot"] });
    options = {
      data: join(dir, "data", "cast-surface"),
      backbone: await writeTinyBackbone(dir),
      layers: ["l1", "l2"],
      size: SIZE,
      shots: [1, 2],
      settings: [plain, preset],
      threads: 1,
      cacheDir: join(dir, "cache"),
    };
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports every setting at every K, with pixel AUROC where there are masks, and caches the test features", async function () {
    const report = await runFewShotSweep(options);
    assert.deepEqual(
      report.rows.map((r) => `${r.setting} ${r.shots}`),
      ["plain 1", "plain 2", "preset 1", "preset 2"],
    );
    const patches = (SIZE / 4) ** 2;
    assert.deepEqual(
      report.rows.map((r) => r.bank_size),
      [0.1, 0.2, 0.8, 1.6].map((f) => Math.floor(f * patches)),
    );
    for (const r of report.rows) {
      assert.ok(r.image_auroc >= 0.75, `${r.setting} K=${r.shots}: image AUROC ${r.image_auroc}`);
      assert.equal(typeof r.pixel_auroc, "number");
      assert.equal(r.threshold === null, r.shots === 1);
    }
    assert.equal((await readdir(join(dir, "cache"))).filter((f) => f.endsWith(".f32")).length, 1);
    const table = fewShotTable(report);
    assert.ok(table.includes("| preset | 2 | 409 |"), table);
  });

  it("draws other variants and another coreset with another seed; the default is seed 0", async function () {
    const run = async (seed: number | undefined) => (await runFewShotSweep({ ...options, settings: [preset], shots: [2], seed })).rows[0]!;
    const zero = await run(0);
    const again = await run(undefined);
    const one = await run(1);
    assert.deepEqual(again, { ...zero, fit_seconds: again.fit_seconds });
    assert.notEqual(one.threshold, zero.threshold);
  });
});
