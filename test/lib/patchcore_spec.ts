/**
 * PatchCore end to end on the package's synthetic parts, with a tiny fixed-weight backbone,
 * learned and inspected as the detector node does (its method's learning round and model).
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
import type { PreprocessOptions, Tensor } from "../../src/lib/image/types";
import { memoryBankFrom } from "../../src/lib/anomaly/patchcore/bank-store";
import {
  bankSizeFor,
  buildMemoryBank,
  DEFAULT_PATCHCORE_OPTIONS,
  PatchCoreScorer,
  type MemoryBank,
  type PatchCoreOptions,
} from "../../src/lib/anomaly/patchcore/patchcore";
import { thresholdMap } from "../../src/lib/threshold";
import { openPatchCoreMethod } from "../../src/lib/detector/methods/patchcore-method";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import type { DetectorModel } from "../../src/lib/detector/types";
import { evaluateAnomalyMethod } from "../../src/offline/eval/anomaly-eval";
import { evalSubjectOf, openDetectorSubject } from "../../src/offline/eval/detector-subject";
import { readModelFile } from "../../src/lib/persist";
import { benchPatchCore } from "../../src/offline/eval/patchcore-bench";
import { readMvtecDataset } from "../../src/offline/eval/mvtec-dataset";
import { auroc } from "../../src/lib/metrics";
import { writeSyntheticDataset } from "../../src/offline/synth";
import { openSessionCount } from "../../src/lib/onnx";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const SIZE = 128;
const LIMITS = { maxPixels: 1e8 };

interface Learned {
  model: DetectorModel;
  /** The fitted bank, as the node saves it. */
  bank: MemoryBank;
  release(): Promise<void>;
}

/** What a detector node with these options learns from `tensors` as one round (its method, round and fit). */
async function learnAsNode(dir: string, backbone: string, options: PatchCoreOptions, tensors: Tensor[], preprocessing: PreprocessOptions): Promise<Learned> {
  // No support-set augmentation: the node's default augments rounds of up to 8 images.
  const augment = { mode: "off" as const, rotations: [], maxShots: 0 };
  const method = await openPatchCoreMethod({ setting: "unsupervised", backbone, layers: ["l1", "l2"], options, augment, session: {} });
  const round = await method.startRound();
  try {
    for (const tensor of tensors) await round.add({ tensor, preprocessing });
    const fitted = await round.fit(new AbortController().signal);
    const path = join(dir, `bank-${Math.random().toString(36).slice(2)}.ddm`);
    await fitted.save(path);
    const { bank } = memoryBankFrom(await readModelFile(path), path);
    return {
      model: fitted.model,
      bank,
      async release() {
        await fitted.model.release();
        await method.release();
      },
    };
  } finally {
    await round.release();
  }
}

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
      const data = readMvtecDataset(join(dir, "data", kind));
      const tensors: Tensor[] = [];
      for (const path of data.train) tensors.push((await preprocessImage(await readFile(path), preprocess, LIMITS)).tensor);
      const learned = await learnAsNode(dir, backbone, { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.25, scoringDim: 0 }, tensors, preprocess);
      const model = learned.model;
      assert.equal(learned.bank.size, 3072 /* a quarter of 12 x 32 x 32 patches */);
      assert.equal(model.info["bankSize"], learned.bank.size);

      const scores: number[] = [];
      const labels: number[] = [];
      let inside = 0;
      let defective = 0;
      for (const sample of data.test) {
        const result = await model.inspect((await preprocessImage(await readFile(sample.path), preprocess, LIMITS)).tensor);
        assert.ok(result.map !== null);
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

      await learned.release();
      assert.equal(openSessionCount(), before, "every session released");
    });
  }

  it("learns the bank that keeping every feature would give, holding only the coreset space and the tensors", async function () {
    // A small projection so the round places images in a coreset space and embeds the kept ones again.
    const options: PatchCoreOptions = { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.1, projectionDim: 16, scoringDim: 8 };
    const preprocess = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });
    const data = readMvtecDataset(join(dir, "data", "woven-fabric"), 6);
    const tensors: Tensor[] = [];
    for (const path of data.train) tensors.push((await preprocessImage(await readFile(path), preprocess, LIMITS)).tensor);
    const extractor = await openPatchExtractor({ model: backbone, layers: ["l1", "l2"] });
    const learned = await learnAsNode(dir, backbone, options, tensors, preprocess);
    try {
      const all: Float32Array[] = [];
      for (const tensor of tensors) all.push((await extractor.embed(tensor)).data);
      const dim = 48;
      const features = new Float32Array(all.reduce((n, a) => n + a.length, 0));
      all.forEach((a, i) => features.set(a, i * a.length));
      const reference = await buildMemoryBank(features, features.length / dim, dim, options);
      assert.equal(learned.bank.size, reference.size);
      assert.deepEqual(Array.from(learned.bank.data), Array.from(reference.data), "same rows in the same order");
      assert.ok(learned.bank.projection !== null && reference.projection !== null);
      assert.deepEqual(Array.from(learned.bank.projection), Array.from(reference.projection), "same search subspace");
    } finally {
      await learned.release();
      await extractor.release();
    }
  });

  it("evaluates a folder through the detector's engine and reports the metrics the CLI prints", async function () {
    // Augmentation off: 8 images is a round the node's "auto" would augment.
    const options = parseDetectorOptions({ backbone, layers: "l1,l2", coreset: "0.25", scoringDim: "0", folderSize: String(SIZE), augment: "off" });
    const subject = await openDetectorSubject(options, dir);
    try {
      const report = await evaluateAnomalyMethod({
        data: join(dir, "data", "cast-surface"),
        trainLimit: 8,
        preprocess: options.folderPreprocess,
        subject: evalSubjectOf(subject, (error) => assert.fail(String(error))),
      });
      assert.equal(report.train_images, 8);
      assert.equal(report.test_images, 3 + 5 * 3);
      assert.equal(report.bank_size, 8 * 32 * 32 * 0.25);
      for (const key of ["image_auroc", "pixel_auroc", "aupro", "f1_max"] as const) {
        const v = report[key];
        assert.ok(typeof v === "number" && v > 0.5 && v <= 1, `${key} = ${v}`);
      }
      assert.ok(
        report.recall_at_frr_5 >= report.recall_at_frr_1 && report.recall_at_frr_1 >= 0 && report.recall_at_frr_5 <= 1,
        "recall at 1 % and 5 % false rejects",
      );
      // Per defect folder: five kinds of three parts, no verdicts in eval (no threshold node).
      assert.deepEqual(
        Object.entries(report.by_defect_type).map(([type, f]) => [type, f.images, f.calibrated_recall]),
        ["crack", "hole", "missing-print", "scratch", "spot"].map((type) => [type, 3, null]),
      );
      const weighed = Object.values(report.by_defect_type).reduce((sum, f) => sum + 3 * (f.recall_at_frr_1 as number), 0) / 15;
      assert.ok(Math.abs(weighed - report.recall_at_frr_1) < 1e-12, "the types weigh up to the overall recall");
      assert.ok(report.ms_per_image > 0 && report.ms_split.backbone > 0 && report.ms_split.post > 0 && report.fit_seconds > 0);
      assert.ok(report.rss_peak_mb >= report.rss_mb && report.rss_mb > 0);
      const record = await subject.record();
      assert.equal(record.trainedOn, 8);
      // The good scores the fit hands over (each learned image without its own rows) are recorded too.
      assert.equal(record.leaveOneOut?.length, 8);
    } finally {
      await subject.release();
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
    const features = Float32Array.from({ length: count * dim }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    const bank = await buildMemoryBank(features, count, dim, { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.5, maxBankSize: 300 });
    assert.equal(bank.size, 300);
    assert.equal(bank.data.length, 300 * dim);
    assert.equal(bankSizeFor(1_000_000_000, DEFAULT_PATCHCORE_OPTIONS), DEFAULT_PATCHCORE_OPTIONS.maxBankSize);
  });

  /** A bank of good patch values near the origin, and an image of 4 x 4 patches with one far patch. */
  function onePatchFar() {
    const dim = 2;
    const bank = { data: Float32Array.from([0, 0, 0.1, 0, 0, 0.1, 0.1, 0.1]), size: 4, dim, projection: null };
    const grid = 4;
    const data = new Float32Array(grid * grid * dim).fill(0.05);
    data.set([3, 4], 5 * dim);
    return { bank, embedding: { data, patches: grid * grid, dim, gridWidth: grid, gridHeight: grid } };
  }

  it("map-max scores an image by its anomaly map's peak, so the verdict and the mask at one threshold agree", async function () {
    const { bank, embedding } = onePatchFar();
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

  it("map-top-mean scores an image by the mean of its map's largest 1 %: below the peak, so an NG part always has a mask", async function () {
    const { bank, embedding } = onePatchFar();
    const top = await PatchCoreScorer.open(bank, { ...DEFAULT_PATCHCORE_OPTIONS, imageScore: "map-top-mean" });
    try {
      const scored = await top.scoreImage(embedding, 32, 32);
      const values = Array.from(scored.map.data).sort((x, y) => y - x);
      // 1 % of 1024 map values: the largest 10.
      const expected = values.slice(0, 10).reduce((s, v) => s + v, 0) / 10;
      assert.ok(Math.abs(scored.score - expected) < 1e-6, `${scored.score} against ${expected}`);
      assert.ok(scored.score < (values[0] as number) && scored.score > (values[10] as number));
      assert.ok(
        thresholdMap(scored.map.data, scored.score).some((v) => v === 1),
        "the mask at the score as threshold has pixels",
      );
      assert.equal(top.imageScoreOf(123, scored.map), scored.score, "read from the map, not the re-weighted score");
      assert.equal(
        top.imageScoreOf(123, () => scored.map),
        scored.score,
        "a map given lazily is made",
      );
    } finally {
      await top.release();
    }
  });
});
