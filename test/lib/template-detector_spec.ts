/**
 * The template method's parts below the node: the reported scale and area opening, tensors back
 * to gray planes, choosing a reference (and leave-one-out for a learned reference sent again),
 * the worker (a dead worker fails its inspection, the next is served), the saved file, and the
 * threshold node's good-only calibration on tied scores (all 0, as references score).
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { areaOpening } from "../../src/lib/anomaly/template/area-opening";
import { PRINTED_PARTS_MODEL } from "../../src/lib/anomaly/template/printed-parts";
import { compareWithReferences } from "../../src/lib/anomaly/template/reference-compare";
import { quantizePlane, referenceSet } from "../../src/lib/anomaly/template/reference-set";
import { DEFAULT_REGISTRATION } from "../../src/lib/anomaly/template/registration";
import { OPENING_LEVELS, OPERATING_POINT, reportedMap, toReportedScale } from "../../src/lib/anomaly/template/template-score";
import { tensorToPlane } from "../../src/lib/anomaly/template/tensor-plane";
import type { GrayPlane } from "../../src/lib/anomaly/template/plane";
import { openTemplateMethod } from "../../src/lib/detector/methods/template-method";
import { DEFAULT_TEMPLATE_OPTIONS } from "../../src/lib/detector/methods/template-options";
import { sharedPixels } from "../../src/lib/detector/storage/template-store";
import { liveTemplateWorkers, TemplateThread } from "../../src/lib/detector/methods/template-thread";
import type { DetectorModel, Sample } from "../../src/lib/detector/types";
import { isDefectError } from "../../src/lib/errors";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { Tensor } from "../../src/lib/image/types";
import { templateLineSetup } from "../../src/offline/line/template-hook";
import { computeCalibration } from "../../src/lib/threshold/calibrate";
import { parseThresholdOptions } from "../../src/lib/threshold/options";

const SIZE = 96;

/** A board-like gray plane: dark background, bright tracks and pads; `variant` moves the design. */
function board(variant: number, defect = false): GrayPlane {
  const data = new Float32Array(SIZE * SIZE).fill(0.1);
  const set = (x: number, y: number): void => {
    if (x >= 0 && y >= 0 && x < SIZE && y < SIZE) data[y * SIZE + x] = 0.9;
  };
  for (let t = 0; t < 6; t++) {
    const y0 = 10 + t * 14 + ((variant * 5) % 7);
    for (let y = y0; y < y0 + 4; y++) for (let x = 8 + t * variant * 3; x < 88; x++) set(x, y);
    for (let y = 8; y < 88; y++) for (let x = 20 + t * 12 + variant * 2; x < 23 + t * 12 + variant * 2; x++) if (t % 2 === variant % 2) set(x, y);
  }
  // A missing piece of track: a defect of 4 x 4 pixels.
  if (defect) for (let y = 10 + ((variant * 5) % 7); y < 14 + ((variant * 5) % 7); y++) for (let x = 50; x < 54; x++) data[y * SIZE + x] = 0.1;
  return { data, width: SIZE, height: SIZE };
}

/** `plane` enlarged `factor` times (nearest): a part whose comparison takes long enough to be caught running. */
function enlarged(plane: GrayPlane, factor: number): GrayPlane {
  const width = plane.width * factor;
  const height = plane.height * factor;
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[y * width + x] = plane.data[Math.floor(y / factor) * plane.width + Math.floor(x / factor)] as number;
  }
  return { data, width, height };
}

const IMAGENET = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });

/** The tensor the preprocess node would make of `plane` (gray in all three channels), NCHW or NHWC. */
function tensorOf(plane: GrayPlane, layout: "NCHW" | "NHWC" = "NCHW"): Tensor {
  const n = plane.width * plane.height;
  const data = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = ((plane.data[i] as number) - (IMAGENET.mean[c] as number)) / (IMAGENET.std[c] as number);
      data[layout === "NCHW" ? c * n + i : i * 3 + c] = v;
    }
  }
  return { data, dims: layout === "NCHW" ? [1, 3, plane.height, plane.width] : [1, plane.height, plane.width, 3], layout };
}

function sampleOf(plane: GrayPlane, name?: string): Sample {
  return { tensor: tensorOf(plane), preprocessing: IMAGENET, name };
}

describe("template detector", function () {
  this.timeout(60_000);

  describe("reported scale", function () {
    it("puts the model's threshold at 0.5 and full contrast at 1, monotonically", function () {
      const out = toReportedScale(Float32Array.from([0, 0.15, 0.3, 0.65, 1, 2]), 0.3);
      assert.deepEqual(
        Array.from(out, (v) => Number(v.toFixed(4))),
        [0, 0.25, OPERATING_POINT, 0.75, 1, 1],
      );
    });

    it("opens specks smaller than the minimum region below every level, and keeps a region's height", function () {
      const width = 10;
      const values = new Float32Array(100);
      values[11] = 0.9; // a speck of 1 pixel
      for (const i of [55, 56, 65, 66, 75]) values[i] = 0.8; // a region of 5 pixels
      const opened = areaOpening(values, width, 4, OPENING_LEVELS);
      assert.ok((opened[11] as number) < (OPENING_LEVELS[0] as number), `speck at ${opened[11]}`);
      for (const i of [55, 56, 65, 66, 75]) assert.equal(opened[i], values[i]);
      // Thresholded at any level, only regions of at least 4 pixels remain.
      for (const level of OPENING_LEVELS) assert.ok(Array.from(opened).filter((v) => v >= level).length !== 1);
    });
  });

  describe("tensors back to gray planes", function () {
    it("undoes the normalisation in either layout, and assumes ImageNet's when the message does not say", function () {
      const plane = board(0);
      for (const layout of ["NCHW", "NHWC"] as const) {
        const back = tensorToPlane(tensorOf(plane, layout), IMAGENET);
        assert.ok(
          back.data.every((v, i) => Math.abs(v - (plane.data[i] as number)) < 1e-5),
          layout,
        );
      }
      const unsaid = tensorToPlane(tensorOf(plane), null);
      assert.ok(unsaid.data.every((v, i) => Math.abs(v - (plane.data[i] as number)) < 1e-5));
    });

    it("refuses a tensor too small to compare", function () {
      assert.throws(
        () => tensorToPlane({ data: new Float32Array(3 * 64), dims: [1, 3, 8, 8], layout: "NCHW" }, IMAGENET),
        (e: unknown) => isDefectError(e) && e.code === "imageTooSmall",
      );
    });
  });

  describe("choosing the reference", function () {
    const designs = [board(0), board(1), board(2)];
    const pixels = new Uint8Array(designs.length * SIZE * SIZE);
    designs.forEach((d, k) => pixels.set(quantizePlane(d), k * SIZE * SIZE));
    const set = referenceSet(SIZE, SIZE, pixels);

    it("compares a part with the reference of its design and finds its defect", function () {
      for (const k of [0, 1, 2]) {
        const result = compareWithReferences(set, board(k, true), PRINTED_PARTS_MODEL, DEFAULT_REGISTRATION);
        assert.equal(result.choice.match.index, k);
        assert.equal(result.choice.copyOf, undefined);
        assert.ok(result.score >= OPERATING_POINT, `design ${k}: ${result.score}`);
      }
    });

    it("compares a learned reference sent again with another of its design, else with itself", function () {
      const twins = new Uint8Array(2 * SIZE * SIZE);
      twins.set(quantizePlane(board(0)), 0);
      twins.set(quantizePlane(board(0, true)), SIZE * SIZE);
      const pair = referenceSet(SIZE, SIZE, twins);
      const result = compareWithReferences(pair, board(0), PRINTED_PARTS_MODEL, DEFAULT_REGISTRATION);
      assert.deepEqual([result.choice.copyOf, result.choice.match.index], [0, 1]);
      assert.ok(result.score >= OPERATING_POINT, "against its defective twin, the difference shows");
      const alone = compareWithReferences(set, board(2), PRINTED_PARTS_MODEL, DEFAULT_REGISTRATION);
      assert.deepEqual([alone.choice.copyOf, alone.choice.match.index, alone.score], [2, 2, 0]);
    });

    it("keeps the map's peak as the score", function () {
      const result = compareWithReferences(set, board(1, true), PRINTED_PARTS_MODEL, DEFAULT_REGISTRATION);
      assert.equal(result.score, Math.max(...result.map.data));
      const again = reportedMap({ data: new Float32Array(SIZE * SIZE), width: SIZE, height: SIZE }, PRINTED_PARTS_MODEL);
      assert.equal(Math.max(...again.data), 0);
    });
  });

  describe("the worker", function () {
    it("fails an inspection whose worker dies with inferenceFailed, serves the next on a new worker, and ends it on release", async function () {
      // 480 px: a comparison takes tens of milliseconds, so the worker is ended while it works.
      const big = (defect: boolean): GrayPlane => enlarged(board(1, defect), 5);
      const reference = quantizePlane(big(false));
      const pixels = sharedPixels(reference.length);
      new Uint8Array(pixels).set(reference);
      const side = SIZE * 5;
      const thread = await TemplateThread.start({
        width: side,
        height: side,
        count: 1,
        pixels,
        model: PRINTED_PARTS_MODEL,
        registration: DEFAULT_REGISTRATION,
      });
      const first = thread.worker;
      assert.ok(first !== undefined);
      const pending = thread.inspect(big(true).data);
      await first.terminate();
      await assert.rejects(pending, (e: unknown) => isDefectError(e) && e.code === "inferenceFailed" && /stopped unexpectedly/.test(e.message));
      const next = await thread.inspect(big(true).data);
      assert.ok(next.score >= OPERATING_POINT);
      assert.ok(thread.worker !== undefined && thread.worker !== first, "a new worker took over");
      await thread.release();
      assert.equal(thread.worker, undefined);
      assert.equal(liveTemplateWorkers(), 0);
      await assert.rejects(thread.inspect(big(false).data), (e: unknown) => isDefectError(e) && e.code === "inferenceFailed");
    });
  });

  describe("the method", function () {
    let dir = "";
    before(async function () {
      dir = await mkdtemp(join(tmpdir(), "template-method-"));
    });
    after(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    it("learns references, saves them atomically and loads the same model again; a damaged file is refused", async function () {
      const method = await openTemplateMethod({ setting: "unsupervised", options: { ...DEFAULT_TEMPLATE_OPTIONS } });
      const round = await method.startRound();
      await round.add(sampleOf(board(0), "a.png"));
      await round.add(sampleOf(board(2), "b.png"));
      const fitted = await round.fit(new AbortController().signal);
      await round.release();
      const path = join(dir, "refs.ddm");
      await fitted.save(path);
      const models: DetectorModel[] = [fitted.model, await method.load(path)];
      const answers = [];
      for (const model of models) answers.push(await model.inspect(tensorOf(board(2, true))));
      for (const model of models) await model.release();
      assert.deepEqual(answers[1]!.reference, { index: 1, name: "b.png", similarity: answers[0]!.reference!.similarity });
      assert.equal(answers[1]!.score, answers[0]!.score);
      assert.deepEqual(answers[0]!.timings.backboneMs, undefined);

      const bytes = await readFile(path);
      bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 1;
      await writeFile(path, bytes);
      await assert.rejects(method.load(path), (e: unknown) => isDefectError(e) && e.code === "modelFileInvalid");
      await assert.rejects(method.load(join(dir, "none.ddm")), (e: unknown) => isDefectError(e) && e.code === "fileNotFound");
      await method.release();
    });

    it("refuses to fit an empty round", async function () {
      const method = await openTemplateMethod({ setting: "unsupervised", options: { ...DEFAULT_TEMPLATE_OPTIONS } });
      const round = await method.startRound();
      await assert.rejects(round.fit(new AbortController().signal), (e: unknown) => isDefectError(e) && e.code === "notTrained");
      await round.release();
    });
  });

  describe("the line's setup (line --method template)", function () {
    let root = "";
    before(async function () {
      root = await mkdtemp(join(tmpdir(), "template-line-"));
      for (const [folder, files] of [
        ["reference", ["b.png", "a.jpg", "notes.txt"]],
        [join("train", "good"), ["000.png", "001.png"]],
      ] as const) {
        await mkdir(join(root, folder), { recursive: true });
        for (const file of files) await writeFile(join(root, folder, file), "");
      }
    });
    after(async function () {
      await rm(root, { recursive: true, force: true });
    });

    it("learns the references, then the training images the threshold calibrates on, as one round", function () {
      const setup = templateLineSetup({ data: root, referenceDir: undefined });
      assert.deepEqual(setup.learn, [
        join(root, "reference", "a.jpg"),
        join(root, "reference", "b.png"),
        join(root, "train", "good", "000.png"),
        join(root, "train", "good", "001.png"),
      ]);
      assert.deepEqual(setup.detector, { setting: "unsupervised", method: "template", trainCount: "4" });
    });

    it("names a reference folder that is not there", function () {
      assert.throws(
        () => templateLineSetup({ data: root, referenceDir: join(root, "missing") }),
        (e: unknown) => isDefectError(e) && e.code === "folderNotFound",
      );
    });
  });

  describe("a good-only threshold on tied scores", function () {
    for (const mode of ["sigma", "quantile"] as const) {
      it(`${mode}: goes just above a score every good sample had, so they are not all rejected`, function () {
        // A rate of 50 % is one that two or three scores can keep (1 % needs 99).
        const options = parseThresholdOptions({ mode, frr: "50" });
        const zeros = computeCalibration(mode, options, { good: [0, 0, 0], defect: [] }, new Date());
        assert.ok(zeros.threshold > 0 && zeros.threshold < 1e-300, String(zeros.threshold));
        assert.equal(zeros.stats.falseRejects, 0);
        const tied = computeCalibration(mode, options, { good: [0.25, 0.25], defect: [] }, new Date());
        assert.ok(tied.threshold > 0.25 && tied.threshold < 0.2500001, String(tied.threshold));
        // Spread scores are left as they were.
        const spread = computeCalibration(mode, options, { good: [0, 0.5, 1], defect: [] }, new Date());
        assert.ok(spread.threshold > 0.5);
      });
    }
  });
});
