import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import sharp from "sharp";
import { DefectError } from "../../src/lib/errors";
import type { RawImage } from "../../src/lib/image/types";
import { deriveSeed } from "../../src/lib/random";
import {
  DEFECT_KINDS,
  TEXTURE_KINDS,
  generateDefect,
  generateGood,
  paintDefect,
  testCountFor,
  writeSyntheticDataset,
  type DefectKind,
  type TextureKind,
} from "../../src/offline/synth";

const SIZE = 128;
/** A defect must cover at least 0.1 % and at most 15 % of the image. */
const MIN_AREA = 0.001;
const MAX_AREA = 0.15;
/** Mean absolute change, in gray levels, that makes a defect plainly visible... */
const MIN_CHANGE_INSIDE = 25;
/** ...while the rest of the part stays (almost) untouched: only anti-aliased edges may leak. */
const MAX_CHANGE_OUTSIDE = 1;

function sha256(data: Uint8Array | Uint16Array): string {
  return createHash("sha256").update(data).digest("hex");
}

interface MaskStats {
  area: number;
  insideChange: number;
  outsideChange: number;
  binary: boolean;
}

function compare(good: RawImage, bad: RawImage, mask: RawImage): MaskStats {
  let area = 0;
  let inside = 0;
  let outside = 0;
  let binary = true;
  const pixels = mask.width * mask.height;
  for (let p = 0; p < pixels; p++) {
    const m = mask.data[p]!;
    if (m !== 0 && m !== 255) binary = false;
    let change = 0;
    for (let c = 0; c < good.channels; c++) change += Math.abs(good.data[p * good.channels + c]! - bad.data[p * good.channels + c]!);
    change /= good.channels;
    if (m === 255) {
      area++;
      inside += change;
    } else {
      outside += change;
    }
  }
  return { area: area / pixels, insideChange: inside / Math.max(1, area), outsideChange: outside / (pixels - area), binary };
}

describe("synthetic data", function () {
  describe("generateGood", function () {
    it("gives the same pixels for the same seed and other pixels for another seed", function () {
      for (const kind of TEXTURE_KINDS) {
        const a = generateGood(kind, 5, SIZE);
        const b = generateGood(kind, 5, SIZE);
        const c = generateGood(kind, 6, SIZE);
        assert.deepEqual(b.data, a.data, kind);
        assert.notDeepEqual(c.data, a.data, kind);
      }
    });

    it("makes 8-bit gray metal and casting, RGB fabric and print, of the requested size", function () {
      const channels = TEXTURE_KINDS.map((kind) => {
        const image = generateGood(kind, 1, 40);
        assert.equal(image.width, 40);
        assert.equal(image.height, 40);
        assert.equal(image.bitDepth, 8);
        assert.equal(image.data.length, 40 * 40 * image.channels);
        return `${kind}:${image.channels}`;
      });
      assert.deepEqual(channels, ["brushed-metal:1", "woven-fabric:3", "cast-surface:1", "printed-pattern:3"]);
    });

    it("keeps pixels bit-identical across machines (golden hashes)", function () {
      // Any change here means old data sets can no longer be regenerated: change on purpose only.
      const hashes = Object.fromEntries(TEXTURE_KINDS.map((kind) => [kind, sha256(generateGood(kind, 7, 64).data).slice(0, 16)]));
      assert.deepEqual(hashes, GOLDEN_GOOD);
      const sample = generateDefect("printed-pattern", "crack", 7, 64);
      assert.equal(sha256(sample.image.data).slice(0, 16), GOLDEN_CRACK.image);
      assert.equal(sha256(sample.mask.data).slice(0, 16), GOLDEN_CRACK.mask);
    });

    it("rejects an unknown kind, a bad size and a bad seed with invalidOption", function () {
      assert.throws(
        () => generateGood("glass" as TextureKind, 1, SIZE),
        (error: unknown) =>
          error instanceof DefectError &&
          error.code === "invalidOption" &&
          error.message === 'Unknown texture kind "glass"; expected one of brushed-metal, woven-fabric, cast-surface, printed-pattern.',
      );
      assert.throws(
        () => generateGood("cast-surface", 1, 16),
        (error: unknown) => error instanceof DefectError && error.message === "Image size must be a whole number of pixels from 32 to 4096, got 16.",
      );
      assert.throws(
        () => generateGood("cast-surface", -1, SIZE),
        (error: unknown) => error instanceof DefectError && error.message === "Seed must be a whole number from 0 to 4294967295, got -1.",
      );
    });
  });

  describe("generateDefect", function () {
    for (const kind of TEXTURE_KINDS) {
      for (const defect of DEFECT_KINDS) {
        it(`${kind} / ${defect}: binary mask of plausible size, changes only inside it`, function () {
          for (const seed of [3, 40]) {
            const good = generateGood(kind, seed, SIZE);
            const { image, mask } = generateDefect(kind, defect, seed, SIZE);
            assert.deepEqual([mask.width, mask.height, mask.channels, mask.bitDepth], [SIZE, SIZE, 1, 8]);
            assert.deepEqual([image.width, image.height, image.channels], [SIZE, SIZE, good.channels]);
            const stats = compare(good, image, mask);
            const label = `${kind}/${defect} seed ${seed}: ${JSON.stringify(stats)}`;
            assert.ok(stats.binary, label);
            assert.ok(stats.area >= MIN_AREA && stats.area <= MAX_AREA, label);
            assert.ok(stats.insideChange >= MIN_CHANGE_INSIDE, label);
            assert.ok(stats.outsideChange <= MAX_CHANGE_OUTSIDE, label);
          }
        });
      }
    }

    it("repeats a defect exactly for one seed and moves it for another", function () {
      for (const defect of DEFECT_KINDS) {
        const a = generateDefect("brushed-metal", defect, 11, SIZE);
        const b = generateDefect("brushed-metal", defect, 11, SIZE);
        const c = generateDefect("brushed-metal", defect, 12, SIZE);
        assert.deepEqual(b.image.data, a.image.data, defect);
        assert.deepEqual(b.mask.data, a.mask.data, defect);
        assert.notDeepEqual(c.mask.data, a.mask.data, defect);
      }
    });

    it("paintDefect paints on a copy of any square image (a gray photo here) and refuses other shapes", function () {
      const data = new Uint8Array(SIZE * SIZE);
      for (let i = 0; i < data.length; i++) data[i] = 90 + ((i * 7919) % 40);
      const photo: RawImage = { data, width: SIZE, height: SIZE, channels: 1, bitDepth: 8 };
      const before = Uint8Array.from(data);
      for (const defect of DEFECT_KINDS) {
        const { image, mask } = paintDefect(photo, defect, 5);
        const stats = compare(photo, image, mask);
        const label = `${defect}: ${JSON.stringify(stats)}`;
        assert.ok(stats.binary && stats.area >= MIN_AREA && stats.area <= MAX_AREA, label);
        assert.ok(stats.insideChange >= MIN_CHANGE_INSIDE && stats.outsideChange <= MAX_CHANGE_OUTSIDE, label);
      }
      assert.deepEqual(data, before, "the input image is left as it was");
      assert.throws(() => paintDefect({ ...photo, width: SIZE / 2, data: data.subarray(0, (SIZE * SIZE) / 2) }, "spot", 1), /square 8-bit image, not 64x128/);
    });

    it("rejects an unknown defect kind", function () {
      assert.throws(
        () => generateDefect("cast-surface", "dent" as DefectKind, 1, SIZE),
        (error: unknown) =>
          error instanceof DefectError &&
          error.code === "invalidOption" &&
          error.message === 'Unknown defect kind "dent"; expected one of scratch, spot, crack, hole, missing-print.',
      );
    });
  });

  describe("writeSyntheticDataset", function () {
    let dir: string;

    beforeEach(async function () {
      dir = await mkdtemp(join(tmpdir(), "synth-spec-"));
    });

    afterEach(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    it("writes the MVTec AD layout with the documented counts", async function () {
      const out = join(dir, "data");
      const summary = await writeSyntheticDataset({
        out,
        count: 5,
        size: 48,
        kinds: ["cast-surface", "printed-pattern"],
        defects: ["hole", "missing-print"],
      });
      assert.equal(summary.testCount, 2);
      assert.equal(summary.images, 2 * (5 + 2 + 2 * 2));
      assert.equal(summary.masks, 2 * 2 * 2);
      assert.deepEqual(await listFiles(out), [
        ...["cast-surface", "printed-pattern"].flatMap((kind) => [
          `${kind}/ground_truth/hole/000_mask.png`,
          `${kind}/ground_truth/hole/001_mask.png`,
          `${kind}/ground_truth/missing-print/000_mask.png`,
          `${kind}/ground_truth/missing-print/001_mask.png`,
          `${kind}/test/good/000.png`,
          `${kind}/test/good/001.png`,
          `${kind}/test/hole/000.png`,
          `${kind}/test/hole/001.png`,
          `${kind}/test/missing-print/000.png`,
          `${kind}/test/missing-print/001.png`,
          ...["000", "001", "002", "003", "004"].map((stem) => `${kind}/train/good/${stem}.png`),
        ]),
      ]);
      const cast = summary.kinds[0]!;
      assert.equal(cast.path, join(out, "cast-surface"));
      assert.deepEqual(
        cast.folders.map((f) => `${f.folder}=${f.count}`),
        ["train/good=5", "test/good=2", "test/hole=2", "ground_truth/hole=2", "test/missing-print=2", "ground_truth/missing-print=2"],
      );
      assert.equal(cast.folders[3]!.files[1], join(out, "cast-surface", "ground_truth", "hole", "001_mask.png"));
    });

    it("writes reference images of the aligned kinds only, when asked, each another capture of the design", async function () {
      const out = join(dir, "refs");
      const summary = await writeSyntheticDataset({ out, count: 2, size: 48, kinds: ["cast-surface", "printed-pattern"], defects: ["hole"], references: 3 });
      const files = await listFiles(out);
      assert.deepEqual(
        files.filter((f) => f.includes("/reference/")),
        ["printed-pattern/reference/000.png", "printed-pattern/reference/001.png", "printed-pattern/reference/002.png"],
      );
      assert.equal(summary.images, 2 * (2 + 2 + 2) + 3);
      assert.deepEqual(
        summary.kinds[1]!.folders.map((f) => `${f.folder}=${f.count}`),
        ["train/good=2", "test/good=2", "reference=3", "test/hole=2", "ground_truth/hole=2"],
      );
      const reference = await decode(join(out, "printed-pattern", "reference", "001.png"), 3);
      assert.deepEqual(reference, generateGood("printed-pattern", deriveSeed(1, "printed-pattern", "reference", 1), 48).data);
      await assert.rejects(writeSyntheticDataset({ out, references: -1 }), (e: unknown) => e instanceof DefectError && e.code === "invalidOption");
    });

    it("writes one-channel binary masks and images that decode to the generated pixels", async function () {
      const out = join(dir, "data");
      await writeSyntheticDataset({ out, count: 1, size: 40, kinds: ["woven-fabric", "brushed-metal"], defects: ["spot"], seed: 9 });
      for (const [kind, channels] of [
        ["woven-fabric", 3],
        ["brushed-metal", 1],
      ] as const) {
        const kindDir = join(out, kind);
        for (const stem of ["000", "001"]) {
          const image = await sharp(join(kindDir, "test", "spot", `${stem}.png`)).metadata();
          const maskFile = join(kindDir, "ground_truth", "spot", `${stem}_mask.png`);
          const mask = await sharp(maskFile).metadata();
          assert.deepEqual([image.width, image.height, image.channels], [40, 40, channels]);
          assert.deepEqual([mask.width, mask.height, mask.channels], [40, 40, 1]);
          const maskPixels = await decode(maskFile, 1);
          assert.deepEqual(
            [...new Set(maskPixels)].sort((a, b) => a - b),
            [0, 255],
          );
        }
        // Each image is seeded by data-set seed, kind, folder and index, so one can be regenerated alone.
        const train = await decode(join(kindDir, "train", "good", "000.png"), channels);
        const expected = generateGood(kind, deriveSeed(9, kind, "train/good", 0), 40);
        assert.deepEqual(train, expected.data);
      }
    });

    it("writes byte-identical files for the same options", async function () {
      const options = { count: 2, size: 32, kinds: ["brushed-metal", "printed-pattern"] as TextureKind[], seed: 4 };
      await writeSyntheticDataset({ ...options, out: join(dir, "a") });
      await writeSyntheticDataset({ ...options, out: join(dir, "b") });
      await writeSyntheticDataset({ ...options, seed: 5, out: join(dir, "c") });
      const a = await hashTree(join(dir, "a"));
      assert.equal(Object.keys(a).length, 2 * (2 + 2 + 5 * 2 * 2));
      assert.deepEqual(await hashTree(join(dir, "b")), a);
      const c = await hashTree(join(dir, "c"));
      assert.deepEqual(Object.keys(c), Object.keys(a));
      assert.notEqual(c["brushed-metal/train/good/000.png"], a["brushed-metal/train/good/000.png"]);
    });

    it("defaults to seed 1, 20 train images and a quarter of that per test folder", async function () {
      const summary = await writeSyntheticDataset({ out: join(dir, "d"), size: 32, kinds: ["cast-surface"], defects: ["scratch"] });
      assert.deepEqual([summary.seed, summary.count, summary.testCount], [1, 20, 5]);
      assert.deepEqual(
        summary.kinds[0]!.folders.map((f) => f.count),
        [20, 5, 5, 5],
      );
      assert.deepEqual([testCountFor(1), testCountFor(9), testCountFor(10), testCountFor(40)], [2, 2, 3, 10]);
    });

    it("rejects bad options before writing anything", async function () {
      const cases: Array<[Parameters<typeof writeSyntheticDataset>[0], string]> = [
        [{ out: "" }, "The output folder (out) must be a non-empty path."],
        [{ out: join(dir, "x"), count: 0 }, "The train image count must be a whole number from 1 to 1000, got 0."],
        [{ out: join(dir, "x"), count: 2.5 }, "The train image count must be a whole number from 1 to 1000, got 2.5."],
        [{ out: join(dir, "x"), kinds: [] }, "The kinds list must name at least one entry."],
        [{ out: join(dir, "x"), defects: ["dent" as DefectKind] }, 'Unknown defect kind "dent"; expected one of scratch, spot, crack, hole, missing-print.'],
      ];
      for (const [options, message] of cases) {
        await assert.rejects(writeSyntheticDataset(options), (error: unknown) => {
          assert.ok(error instanceof DefectError);
          assert.equal(error.code, "invalidOption");
          assert.equal(error.message, message);
          return true;
        });
      }
      assert.deepEqual(await readdir(dir), []);
    });

    it("reports an output path blocked by a file as fileWriteFailed", async function () {
      const blocker = join(dir, "blocker");
      await writeFile(blocker, "not a folder");
      await assert.rejects(
        writeSyntheticDataset({ out: join(blocker, "data"), count: 1, size: 32 }),
        (error: unknown) =>
          error instanceof DefectError &&
          error.code === "fileWriteFailed" &&
          error.message === `Cannot create folder "${join(blocker, "data", "brushed-metal", "train", "good")}": "${blocker}" is a file, not a folder`,
      );
    });
  });
});

/** Every file under `root`, as sorted forward-slash paths relative to it. */
async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split("\\").join("/"))
    .sort();
}

/** Decoded pixels; sharp widens gray files to RGB unless told otherwise. */
async function decode(file: string, channels: 1 | 3): Promise<Uint8Array> {
  const pipeline = sharp(file);
  if (channels === 1) pipeline.toColourspace("b-w");
  return new Uint8Array(await pipeline.raw().toBuffer());
}

async function hashTree(root: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  for (const file of await listFiles(root)) hashes[file] = sha256(await readFile(join(root, file)));
  return hashes;
}

/** First 16 hex digits of the SHA-256 of the pixels of seed 7 at 64 x 64. */
const GOLDEN_GOOD: Record<TextureKind, string> = {
  "brushed-metal": "770699ef9492eb2f",
  "woven-fabric": "b79bf5a3a7d6d273",
  "cast-surface": "452ef50c67eaff20",
  "printed-pattern": "29ce8e1f41e45563",
};
const GOLDEN_CRACK = { image: "59fd8c99e6d07f76", mask: "1d96889f443d8970" };
