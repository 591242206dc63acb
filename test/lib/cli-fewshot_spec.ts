import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { runCli } from "../../src/cli/main";
import { captureCli } from "../fixtures/cli-io";
import { DEFAULT_PATCHCORE_OPTIONS } from "../../src/lib/anomaly/patchcore/patchcore";
import { openPatchCoreMethod } from "../../src/lib/detector/methods/patchcore-method";
import { preprocessImage, parsePreprocessOptions } from "../../src/lib/image";
import type { Tensor } from "../../src/lib/image/types";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const SIZE = 64;
/** The tiny backbone's l1 grid at 64 px: 16 x 16 patches. */
const PATCHES = 256;
/** Default plan: 3 flips (the 180-degree turn is their product) + 4 random variants. */
const VARIANTS = 7;

/** A striped part with a little per-image phase; a defect is a dark square with a mask. */
async function writePart(path: string, phase: number, defect: boolean, maskPath?: string): Promise<void> {
  const pixels = Buffer.alloc(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inDefect = defect && x >= 24 && x < 40 && y >= 24 && y < 40;
      pixels[y * SIZE + x] = inDefect ? 10 : 128 + Math.round(60 * Math.sin((x + phase) / 3));
    }
  }
  await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .png()
    .toFile(path);
  if (maskPath === undefined) return;
  const mask = Buffer.alloc(SIZE * SIZE);
  for (let y = 24; y < 40; y++) for (let x = 24; x < 40; x++) mask[y * SIZE + x] = 255;
  await sharp(mask, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .png()
    .toFile(maskPath);
}

async function writeDataset(root: string): Promise<void> {
  for (const sub of ["train/good", "test/good", "test/hole", "ground_truth/hole"]) await mkdir(join(root, sub), { recursive: true });
  for (let i = 0; i < 3; i++) await writePart(join(root, "train/good", `g${i}.png`), i, false);
  for (let i = 0; i < 2; i++) await writePart(join(root, "test/good", `t${i}.png`), i + 5, false);
  for (let i = 0; i < 2; i++) await writePart(join(root, "test/hole", `d${i}.png`), i + 7, true, join(root, "ground_truth/hole", `d${i}_mask.png`));
}

describe("few-shot eval and the detector's few-shot rounds (tiny backbone)", function () {
  this.timeout(60_000);
  let dir: string;
  let data: string;
  let backbone: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "cli-fewshot-"));
    data = join(dir, "parts");
    await writeDataset(data);
    backbone = await writeTinyBackbone(dir);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  async function evalJson(extra: string[]): Promise<Record<string, unknown>> {
    const run = captureCli();
    const code = await runCli(
      ["eval", "--data", data, "--backbone", backbone, "--layers", "l1,l2", "--size", String(SIZE), "--threads", "1", "--json", ...extra],
      run.io,
    );
    assert.equal(code, 0, run.stderr());
    return JSON.parse(run.stdout()) as Record<string, unknown>;
  }

  it("--shots 2 learns both shots and their variants (10 % coreset) and calibrates a threshold on them", async function () {
    const r = await evalJson(["--shots", "2"]);
    assert.equal(r.shots, 2);
    assert.equal(r.train_images, 2);
    assert.equal(r.augmented, true);
    assert.equal(r.learned_images, 2 * (1 + VARIANTS));
    assert.equal(r.bank_size, Math.floor(2 * (1 + VARIANTS) * PATCHES * 0.1));
    assert.equal(r.test_images, 4);
    assert.equal(r.image_auroc, 1);
    assert.equal(typeof r.pixel_auroc, "number");
    assert.equal((r.calibration_scores as number[]).length, 2);
    const scores = r.calibration_scores as number[];
    const [a, b] = scores as [number, number];
    const mean = (a + b) / 2;
    const sd = Math.abs(a - b) / Math.SQRT2;
    assert.ok(Math.abs((r.threshold as number) - (mean + 3 * sd)) < 1e-9);
    assert.equal(typeof r.f1_calibrated, "number");
    assert.ok(Math.abs((r.f1_max as number) - 1) < 1e-9, String(r.f1_max));
  });

  it("eval reports the recall and false-reject rate at the threshold calibrated from the detector's handed-over scores", async function () {
    // 3 learned images: 3 leave-one-out scores keep 30 % (k = ceil(4 * 0.7) = 3), not 1 % (99 needed).
    const r = await evalJson(["--frr", "30"]);
    assert.deepEqual([r.calibration, r.calibration_images, r.calibration_error], ["leave-one-out", 3, null]);
    assert.ok(Math.abs((r.promised_frr as number) - 1 / 4) < 1e-12, String(r.promised_frr));
    assert.equal(typeof r.calibrated_threshold, "number");
    for (const key of ["calibrated_recall", "calibrated_frr", "recall_at_frr_1", "recall_at_frr_5"]) {
      const value = r[key];
      assert.ok(typeof value === "number" && value >= 0 && value <= 1, `${key} = ${String(value)}`);
    }
    // The tiny backbone tells the dark squares apart: they are caught at that threshold.
    assert.equal(r.calibrated_recall, 1);
    const strict = await evalJson([]);
    assert.deepEqual([strict.calibrated_recall, strict.calibrated_frr, strict.promised_frr], [null, null, null]);
    assert.equal(strict.calibration_error, "a false-reject rate of 1 % needs at least 99 good scores of parts the model did not learn from, got 3");
    const run = captureCli();
    assert.equal(await runCli(["eval", "--data", data, "--backbone", backbone, "--frr", "0"], run.io), 2);
    assert.match(run.stderr(), /--frr must be a percentage above 0 and below 100, got "0"/);
  });

  it("--augment off learns only the shots; --coreset 1 keeps every patch", async function () {
    const off = await evalJson(["--shots", "2", "--augment", "off"]);
    assert.equal(off.augmented, false);
    assert.equal(off.learned_images, 2);
    assert.equal(off.bank_size, Math.floor(2 * PATCHES * 0.1));
    const all = await evalJson(["--shots", "2", "--augment", "off", "--coreset", "1"]);
    assert.equal(all.bank_size, 2 * PATCHES);
  });

  it("the few-shot preset standardises features and scores images by the map maximum; --no-standardize and --image-score undo each", async function () {
    const preset = await evalJson(["--shots", "2"]);
    const explicit = await evalJson(["--shots", "2", "--standardize", "--image-score", "map-max"]);
    const raw = await evalJson(["--shots", "2", "--no-standardize"]);
    const paper = await evalJson(["--shots", "2", "--image-score", "reweighted"]);
    assert.equal(preset.standardized, true);
    assert.equal(preset.image_score, "map-max");
    assert.deepEqual(explicit.calibration_scores, preset.calibration_scores);
    assert.equal(raw.standardized, false);
    assert.equal(raw.image_score, "map-max");
    assert.equal(paper.standardized, true);
    assert.equal(paper.image_score, "reweighted");
    // Same bank either way; only the features' units or the image score rule differ.
    for (const r of [raw, paper]) {
      assert.equal(r.bank_size, preset.bank_size);
      assert.equal(r.learned_images, preset.learned_images);
      assert.notEqual(r.threshold, preset.threshold);
    }
    // The synthetic defects are local, so they stand out of their own image's statistics too.
    assert.ok((preset.image_auroc as number) >= 0.75, String(preset.image_auroc));
  });

  it("does not standardise the embedded backbone's features unless asked (it is trained to ignore lighting)", async function () {
    const run = async (extra: string[]): Promise<Record<string, unknown>> => {
      const io = captureCli();
      const code = await runCli(
        [
          "eval",
          "--data",
          data,
          "--backbone",
          "embedded",
          "--layers",
          "stage2,stage3",
          "--size",
          String(SIZE),
          "--threads",
          "1",
          "--json",
          "--shots",
          "2",
          ...extra,
        ],
        io.io,
      );
      assert.equal(code, 0, io.stderr());
      return JSON.parse(io.stdout()) as Record<string, unknown>;
    };
    const preset = await run([]);
    assert.equal(preset.standardized, false);
    assert.equal(preset.image_score, "map-max");
    assert.equal((await run(["--standardize"])).standardized, true);
  });

  it("eval with no speed flags runs what an unedited detector node runs: the setting's coreset and search, augmentation of small rounds", async function () {
    const plain = await evalJson([]);
    // 3 training images: a round the node's "auto" augmentation covers (up to 8 images).
    assert.equal(plain.train_images, 3);
    // 3 images x 8 (7 variants each) x 256 patches = 6,144; the unsupervised preset keeps 5 %.
    assert.equal(plain.bank_size, 307);
    assert.equal((await evalJson(["--augment", "off"])).bank_size, 38 /* 5 % of 3 x 256 */);
    const shots = await evalJson(["--shots", "3"]);
    assert.equal(shots.bank_size, 614 /* the few-shot preset's 10 % of 6,144 */);
    assert.ok((plain.rss_peak_mb as number) > 0);
  });

  it("eval --method padim learns the detector's PaDiM: one Gaussian a grid position", async function () {
    const padim = await evalJson(["--method", "padim"]);
    assert.equal(padim.method, "padim");
    assert.equal(padim.train_images, 3);
    assert.equal(padim.bank_size, PATCHES);
    assert.equal(padim.test_images, 4);
    assert.equal(typeof padim.pixel_auroc, "number");
  });

  it("full-data eval scores by the mean of the map's top 1 % unless --image-score says otherwise", async function () {
    const full = await evalJson([]);
    const topMean = await evalJson(["--image-score", "map-top-mean"]);
    const mapMax = await evalJson(["--image-score", "map-max"]);
    const paper = await evalJson(["--image-score", "reweighted"]);
    assert.equal(full.bank_size, mapMax.bank_size);
    assert.equal(full.f1_threshold, topMean.f1_threshold, "the default is map-top-mean");
    assert.notEqual(full.f1_threshold, mapMax.f1_threshold);
    assert.notEqual(full.f1_threshold, paper.f1_threshold);
  });

  it("one shot has no threshold to calibrate (null)", async function () {
    const one = await evalJson(["--shots", "1"]);
    assert.equal(one.threshold, null);
    assert.equal(one.f1_calibrated, null);
    assert.equal(one.bank_size, Math.floor((1 + VARIANTS) * PATCHES * 0.1));
  });

  it("answers bad few-shot arguments with exit code 2 and the reason", async function () {
    const cases: Array<[string[], string]> = [
      [["--shots", "2", "--augment", "maybe"], '--augment must be one of auto, on, off, got "maybe"'],
      [["--shots", "2", "--train-limit", "2"], "--shots K already picks the first K training images: drop --train-limit"],
      [["--defect-shots", "2"], "--defect-shots needs --shots K (the good images of the bank)"],
      [["--shots", "0"], '--shots must be a whole number from 1 to 1000000, got "0"'],
      [["--shots", "17"], '--shots must be an integer from 1 to 16, got "17"'],
      [["--shots", "2", "--min-bank", "100"], "--min-bank is not available: the detector node keeps no minimum bank in the few-shot setting"],
      [["--shots", "2", "--method", "padim"], '--shots and --defect-shots work with --method patchcore, got "padim"'],
      [["--standardize"], "--standardize and --no-standardize need --shots K (they are few-shot settings)"],
      [["--no-standardize"], "--standardize and --no-standardize need --shots K (they are few-shot settings)"],
      [["--shots", "2", "--standardize", "--no-standardize"], "--standardize and --no-standardize contradict each other"],
      [["--shots", "2", "--image-score", "mean"], '--image-score must be one of auto, reweighted, map-max, map-top-mean, got "mean"'],
      [
        ["--shots", "2", "--defect-shots", "1", "--image-score", "map-max"],
        "--defect-shots compares raw features with the re-weighted image score: drop --standardize, --no-standardize and --image-score",
      ],
    ];
    for (const [extra, message] of cases) {
      const run = captureCli();
      const code = await runCli(["eval", "--data", data, "--backbone", backbone, "--layers", "l1,l2", "--size", String(SIZE), ...extra], run.io);
      assert.equal(code, 2, extra.join(" "));
      assert.equal(run.stderr(), `defect-detection eval: ${message} (see "defect-detection eval --help")\n`);
    }
  });

  it("a detector round learns the variants up to maxShots in auto mode and none past it", async function () {
    const preprocess = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE, resize: "stretch" });
    const tensors: Tensor[] = [];
    for (let i = 0; i < 3; i++)
      tensors.push((await preprocessImage(await sharp(join(data, "train/good", `g${i}.png`)).toBuffer(), preprocess, { maxPixels: 1e6 })).tensor);
    const method = await openPatchCoreMethod({
      setting: "fewshot",
      backbone,
      layers: ["l1", "l2"],
      // Every patch kept, so the bank size counts the images learned.
      options: { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 1, scoringDim: 0 },
      augment: { mode: "auto", rotations: [], maxShots: 2 },
      session: { intraOpThreads: 1 },
    });
    try {
      const learn = async (count: number): Promise<Record<string, string | number>> => {
        const round = await method.startRound();
        try {
          for (const tensor of tensors.slice(0, count)) await round.add({ tensor, preprocessing: preprocess });
          const { model } = await round.fit(new AbortController().signal);
          const info = { ...model.info };
          await model.release();
          return info;
        } finally {
          await round.release();
        }
      };
      const two = await learn(2);
      assert.equal(two["variants"], 2 * VARIANTS);
      assert.equal(two["bankSize"], 2 * (1 + VARIANTS) * PATCHES);
      const three = await learn(3);
      assert.equal(three["variants"], 0);
      assert.equal(three["bankSize"], 3 * PATCHES);
    } finally {
      await method.release();
    }
  });
});
