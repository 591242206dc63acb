/**
 * PatchCore end to end on the package's synthetic parts, with a tiny fixed-weight backbone.
 * Bound chosen: the synthetic defects are high-contrast and the textures stationary, so even
 * random zero-mean conv features separate them well; image AUROC >= 0.9 leaves room for the
 * hardest cases (faint spots on the busiest texture) while a broken scorer (random or inverted
 * scores, ~0.5 or below) fails clearly. The printed pattern is left to template comparison:
 * missing print looks like plain background, which a bank of good patches already holds.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { openPatchExtractor } from "../../src/lib/features/extractor";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import { bankSizeFor, buildMemoryBank, DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer } from "../../src/lib/anomaly/patchcore/patchcore";
import { thresholdMap } from "../../src/lib/threshold";
import { createPatchCoreTrainer } from "../../src/lib/anomaly/patchcore/trainer";
import { evaluateAnomalyMethod } from "../../src/lib/eval/anomaly-eval";
import { benchPatchCore } from "../../src/lib/eval/patchcore-bench";
import { readMvtecDataset } from "../../src/lib/eval/mvtec-dataset";
import { auroc } from "../../src/lib/metrics";
import { writeSyntheticDataset } from "../../src/lib/synth";
import { openSessionCount } from "../../src/lib/onnx";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const SIZE = 128;
const LIMITS = { maxPixels: 1e8 };

describe("PatchCore on synthetic parts", function () {
  this.timeout(60_000);
  let dir = "";
  let backbone = "";

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "patchcore-"));
    backbone = await writeTinyBackbone(dir);
    await writeSyntheticDataset({ out: join(dir, "data"), kinds: ["cast-surface", "brushed-metal", "woven-fabric"], count: 12, size: SIZE, seed: 3 });
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ["cast-surface", "brushed-metal", "woven-fabric"]) {
    it(`separates defective from good ${kind} parts and points at the defect`, async function () {
      const before = openSessionCount();
      const preprocess = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });
      const extractor = await openPatchExtractor({ model: backbone, layers: ["l1", "l2"] });
      const trainer = createPatchCoreTrainer(extractor, { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.25 });
      const data = readMvtecDataset(join(dir, "data", kind));
      for (const path of data.train) await trainer.add((await preprocessImage(await readFile(path), preprocess, LIMITS)).tensor);
      const model = await trainer.fit();
      assert.equal(trainer.bank?.size, bankSizeFor(12 * 32 * 32, { coresetRatio: 0.25, maxBankSize: 40_000 }));

      const scores: number[] = [];
      const labels: number[] = [];
      let inside = 0;
      let defective = 0;
      for (const sample of data.test) {
        const result = await model.inspect((await preprocessImage(await readFile(sample.path), preprocess, LIMITS)).tensor);
        assert.equal(result.map.width, SIZE);
        scores.push(result.score);
        labels.push(sample.defective ? 1 : 0);
        if (sample.maskPath === null) continue;
        defective++;
        let arg = 0;
        for (let i = 1; i < result.map.data.length; i++) if ((result.map.data[i] as number) > (result.map.data[arg] as number)) arg = i;
        const mask = await sharp(sample.maskPath).toColourspace("b-w").raw().toBuffer();
        if ((mask[arg] as number) > 0) inside++;
      }
      const area = auroc(scores, labels);
      assert.ok(area >= 0.9, `image AUROC ${area.toFixed(3)} for ${kind}`);
      // Most, not all: a thin scratch can peak a few pixels beside its 1-2 px mask after the blur.
      assert.ok(inside / defective >= 0.6, `map maximum inside the mask for ${inside}/${defective}`);

      await model.release();
      await trainer.release();
      await extractor.release();
      assert.equal(openSessionCount(), before, "every session released");
    });
  }

  it("evaluates a folder and reports the metrics the CLI prints", async function () {
    const extractor = await openPatchExtractor({ model: backbone, layers: ["l1", "l2"] });
    const trainer = createPatchCoreTrainer(extractor, { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.25 });
    try {
      const report = await evaluateAnomalyMethod({
        data: join(dir, "data", "cast-surface"),
        trainLimit: 8,
        preprocess: parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE }),
        subject: { trainer },
        modelSize: () => trainer.bank?.size ?? null,
      });
      assert.equal(report.train_images, 8);
      assert.equal(report.test_images, 3 + 5 * 3);
      assert.equal(report.bank_size, 8 * 32 * 32 * 0.25);
      for (const key of ["image_auroc", "pixel_auroc", "aupro", "f1_max"] as const) {
        const v = report[key];
        assert.ok(typeof v === "number" && v > 0.5 && v <= 1, `${key} = ${v}`);
      }
      assert.ok(report.ms_per_image > 0 && report.ms_split.backbone > 0 && report.fit_seconds > 0);
    } finally {
      await trainer.release();
      await extractor.release();
    }
  });

  it("benchmarks exact and subspace search on the same features", async function () {
    const report = await benchPatchCore({
      data: join(dir, "data", "cast-surface"),
      backbone,
      layers: ["l1", "l2"],
      preprocess: parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE }),
      trainLimit: 8,
      settings: [
        { label: "exact", coresetRatio: 0.25, scoringDim: 0 },
        { label: "subspace", coresetRatio: 0.25, scoringDim: 16 },
      ],
    });
    assert.deepEqual(
      report.rows.map((r) => [r.label, r.bank_size, r.scoring_dim]),
      [
        ["exact", 2048, 0],
        ["subspace", 2048, 16],
      ],
    );
    for (const row of report.rows) {
      assert.ok(row.image_auroc >= 0.9, `${row.label}: image AUROC ${row.image_auroc}`);
      assert.ok(row.ms.total > 0 && row.ms.scoring > 0);
    }
    assert.ok(report.raw_backbone_ms > 0);
  });

  it("caps the memory bank whatever the number of training patches", async function () {
    const dim = 4;
    const count = 5000;
    const features = Float32Array.from({ length: count * dim }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    const bank = await buildMemoryBank(features, count, dim, { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.5, maxBankSize: 300 });
    assert.equal(bank.size, 300);
    assert.equal(bank.data.length, 300 * dim);
    assert.equal(bankSizeFor(1_000_000_000, DEFAULT_PATCHCORE_OPTIONS), DEFAULT_PATCHCORE_OPTIONS.maxBankSize);
  });

  it("map-max scores an image by its anomaly map's peak, so the verdict and the mask at one threshold agree", async function () {
    const dim = 2;
    // Bank: the good patch values near the origin; the inspected image has one far patch.
    const bank = { data: Float32Array.from([0, 0, 0.1, 0, 0, 0.1, 0.1, 0.1]), size: 4, dim, projection: null };
    const grid = 4;
    const data = new Float32Array(grid * grid * dim).fill(0.05);
    data.set([3, 4], 5 * dim);
    const embedding = { data, patches: grid * grid, dim, gridWidth: grid, gridHeight: grid };
    const paper = await PatchCoreScorer.open(bank, DEFAULT_PATCHCORE_OPTIONS);
    const peak = await PatchCoreScorer.open(bank, { ...DEFAULT_PATCHCORE_OPTIONS, imageScore: "map-max" });
    try {
      const a = await paper.scoreImage(embedding, 32, 32);
      const b = await peak.scoreImage(embedding, 32, 32);
      assert.deepEqual(Array.from(a.map.data), Array.from(b.map.data), "same map either way");
      assert.deepEqual(Array.from(a.grid.data), Array.from((await paper.scorePatches(embedding)).grid.data));
      const mapPeak = Math.max(...b.map.data);
      assert.equal(b.score, mapPeak);
      // The far patch is ~4.9 from the bank (re-weighted: less); the blur spreads it, so the map peak is lower still.
      assert.ok(a.score > 3 && b.score < a.score, `reweighted ${a.score}, map peak ${b.score}`);
      // At the map-max score as threshold the mask has pixels; just above it, none: verdict and mask agree.
      assert.ok(thresholdMap(b.map.data, b.score).some((v) => v === 1));
      assert.ok(thresholdMap(b.map.data, b.score * 1.000001).every((v) => v === 0));
      // The re-weighted score does not have that property: at it the mask is empty though the image is NG.
      assert.ok(thresholdMap(a.map.data, a.score).every((v) => v === 0));
      assert.equal(peak.imageScoreOf(123, b.map), mapPeak);
      assert.equal(paper.imageScoreOf(123, b.map), 123);
    } finally {
      await paper.release();
      await peak.release();
    }
  });
});
