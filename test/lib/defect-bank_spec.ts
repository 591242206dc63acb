/**
 * Defect memory (second bank of labelled defect patches) and calibration from labelled samples,
 * on hand-made 2-d features whose distances are known, plus the labelled-defect reader and one
 * end-to-end evaluation on tiny synthetic images.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  buildDefectBank,
  chooseLambda,
  DefectBankSearch,
  defectAwareImageScore,
  defectAwareScore,
  defectAwarePatchScores,
  defectEvidence,
  patchGridMask,
  selectDefectPatches,
} from "../../src/lib/anomaly/patchcore/defect-bank";
import { openNearestSearch } from "../../src/lib/anomaly/patchcore/nearest";
import { classifyPatches, patchLogits, trainPatchClassifier } from "../../src/lib/anomaly/patchcore/patch-classifier";
import { openHeadScorer } from "../../src/lib/anomaly/patchcore/region-head";
import type { PatchEmbedding } from "../../src/lib/features/types";
import { openPatchExtractor } from "../../src/lib/features/extractor";
import { parsePreprocessOptions } from "../../src/lib/image";
import { openSessionCount } from "../../src/lib/onnx";
import { listLabelledDefects, loadDefectRegion, type LabelledDefect } from "../../src/offline/eval/defect-aware-data";
import { calibrateThresholds, evaluateDefectAware } from "../../src/offline/eval/defect-aware-eval";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const CLOSE = 1e-5;

function embedding(points: Array<[number, number]>): PatchEmbedding {
  return { data: Float32Array.from(points.flat()), patches: points.length, dim: 2, gridHeight: 1, gridWidth: points.length };
}

async function goodDistances(bank: Array<[number, number]>, query: PatchEmbedding): Promise<Float32Array> {
  const search = await openNearestSearch(Float32Array.from(bank.flat()), bank.length, 2);
  try {
    return (await search.search(query.data, query.patches, 1)).distances;
  } finally {
    await search.release();
  }
}

describe("defect bank", function () {
  it("reduces a pixel mask to the patch cells holding any defect pixel", function () {
    const mask = new Uint8Array(8 * 8);
    mask[2 * 8 + 5] = 1; // x 5, y 2 -> cell (2, 1) of a 4 x 4 grid
    mask[7 * 8 + 0] = 1; // x 0, y 7 -> cell (0, 3)
    const grid = patchGridMask(mask, 8, 8, 4, 4);
    assert.deepEqual(
      [...grid].flatMap((v, i) => (v === 1 ? [i] : [])),
      [6, 12],
    );
    assert.throws(() => patchGridMask(new Uint8Array(10), 8, 8, 4, 4), { code: "maskSizeMismatch" });
  });

  it("takes the patches inside a region, else the farthest ones beyond the good floor (at least one)", function () {
    const distances = Float32Array.from([0.1, 0.9, 0.5, 0.7]);
    assert.deepEqual([...selectDefectPatches(distances, Uint8Array.from([1, 0, 0, 1]), 0.6, { topPatches: 3 })], [0, 3]);
    assert.deepEqual([...selectDefectPatches(distances, null, 0.6, { topPatches: 3 })], [1, 3]);
    assert.deepEqual([...selectDefectPatches(distances, null, 1.0, { topPatches: 3 })], [1]);
    assert.deepEqual([...selectDefectPatches(distances, null, 0, { topPatches: 2 })], [1, 3]);
  });

  it("raises a defect type seen in training above an unseen one, and leaves good patches unchanged", async function () {
    const goodBank: Array<[number, number]> = [
      [0, 0],
      [1, 0],
      [0, 1],
    ];
    // Two labelled images of the same defect type, around (10, 0).
    const labelled = [embedding([[10, 0]]), embedding([[10, 1]])];
    const bank = buildDefectBank(labelled.map((e) => ({ embedding: e, rows: Int32Array.from([0]) })));
    assert.deepEqual([...bank.sources], [0, 1]);
    // good patch, seen defect type, unseen defect type equally far from good.
    const query = embedding([
      [0.5, 0.25],
      [10, 0.2],
      [0, 10.002],
    ]);
    const dGood = await goodDistances(goodBank, query);
    const search = await DefectBankSearch.open(bank);
    try {
      const dDefect = await search.distances(query);
      assert.ok(Math.abs((dDefect[1] as number) - 0.2) < CLOSE, `seen defect at ${dDefect[1]} from the defect bank`);
      const evidence = defectEvidence(dGood, dDefect);
      assert.equal(evidence[0], 0);
      assert.equal(evidence[2], 0);
      assert.ok(Math.abs((evidence[1] as number) - ((dGood[1] as number) - 0.2)) < CLOSE);
      const scores = defectAwarePatchScores(dGood, evidence, 1);
      assert.equal(scores[0], dGood[0], "good patch keeps its PatchCore score");
      assert.equal(scores[2], dGood[2], "unseen defect keeps its PatchCore score");
      assert.ok(Math.abs((dGood[1] as number) - (dGood[2] as number)) < 0.01, "both defects equally far from good");
      assert.ok((scores[1] as number) > (scores[2] as number) + 8, `seen ${scores[1]} against unseen ${scores[2]}`);

      // Leaving image 0 out, the seen patch's nearest defect is image 1's (10, 1).
      const left = await search.distances(query, 0);
      assert.ok(Math.abs((left[1] as number) - 0.8) < CLOSE, `left-out distance ${left[1]}`);
      assert.ok(Math.abs((await search.distances(query, 1))[1] as number) - 0.2 < CLOSE);
    } finally {
      await search.release();
    }
    const single = await DefectBankSearch.open(buildDefectBank([{ embedding: labelled[0] as PatchEmbedding, rows: Int32Array.from([0]) }]));
    try {
      assert.deepEqual([...(await single.distances(query, 0))], [Infinity, Infinity, Infinity], "no evidence from an image against itself");
    } finally {
      await single.release();
    }
  });

  it("scores an image as PatchCore's score plus lambda times the largest evidence", function () {
    assert.equal(defectAwareImageScore(2, Float32Array.from([0, 0.5, 0.25]), 2), 3);
    assert.equal(defectAwareImageScore(2, Float32Array.from([0, 0]), 8), 2);
  });

  it("refuses an empty defect bank and mismatched feature sizes", async function () {
    assert.throws(() => buildDefectBank([{ embedding: embedding([[1, 1]]), rows: new Int32Array(0) }]), { code: "invalidOption" });
    const search = await DefectBankSearch.open(buildDefectBank([{ embedding: embedding([[1, 1]]), rows: Int32Array.from([0]) }]));
    try {
      const wide: PatchEmbedding = { data: new Float32Array(3), patches: 1, dim: 3, gridHeight: 1, gridWidth: 1 };
      await assert.rejects(search.distances(wide), { code: "inputShapeMismatch", message: "patch features have 3 values, the defect bank 2" });
    } finally {
      await search.release();
    }
  });
});

describe("logistic patch head", function () {
  it("learns defect patches against good ones, whatever the class sizes", function () {
    const positive = Float32Array.from([3, 3, 3.2, 2.9, 2.8, 3.1]);
    const negative = Float32Array.from(Array.from({ length: 40 }, (_, i) => [(i % 5) * 0.1, Math.floor(i / 5) * 0.05]).flat());
    const head = trainPatchClassifier(positive, negative, 2);
    const p = classifyPatches(head, Float32Array.from([3, 3, 0.2, 0.1, 1.5, 1.5]), 3);
    assert.ok((p[0] as number) > 0.9, `defect patch ${p[0]}`);
    assert.ok((p[1] as number) < 0.1, `good patch ${p[1]}`);
    assert.ok((p[2] as number) > (p[1] as number) && (p[2] as number) < (p[0] as number), "in between");
    assert.throws(() => trainPatchClassifier(new Float32Array(0), negative, 2), { code: "invalidOption" });
    assert.throws(() => classifyPatches(head, new Float32Array(3), 1), { code: "inputShapeMismatch" });
  });

  it("gives a finite logit, and a finite defect-aware score, for a patch far beyond every learned one", async function () {
    const positive = Float32Array.from([3, 3, 3.2, 2.9, 2.8, 3.1]);
    const negative = Float32Array.from(Array.from({ length: 40 }, (_, i) => [(i % 5) * 0.1, Math.floor(i / 5) * 0.05]).flat());
    const head = trainPatchClassifier(positive, negative, 2);
    const far = Float32Array.from([1e4, 1e4]);
    // The probability rounds to exactly 1, whose log-odds would be Infinity (and 0 x Infinity = NaN).
    assert.equal(classifyPatches(head, far, 1)[0], 1);
    const [logit] = patchLogits(head, far, 1);
    assert.ok(Number.isFinite(logit) && (logit as number) > 100, String(logit));
    const embedding: PatchEmbedding = { data: far, patches: 1, dim: 2, gridWidth: 1, gridHeight: 1 };
    const scorer = await openHeadScorer(head);
    const [evidence] = await scorer.evidence(embedding).finally(() => scorer.release());
    assert.ok(Number.isFinite(evidence) && (evidence as number) > 100, String(evidence));
    assert.ok(Number.isFinite(defectAwareScore({ goodScore: 1, maxEvidence: evidence as number }, 0)));
  });
});

describe("calibration from labelled samples", function () {
  const good = [1, 2, 3].map((goodScore) => ({ goodScore, maxEvidence: 0 }));
  const defect = [1.5, 2.5].map((goodScore) => ({ goodScore, maxEvidence: 1 }));

  it("chooses the smallest lambda that ranks the labelled samples best", function () {
    const choice = chooseLambda(good, defect);
    assert.equal(choice.lambda, 2);
    assert.deepEqual(
      choice.aurocs.slice(0, 5).map((a) => [a.lambda, a.auroc]),
      [
        [0, 0.5],
        [0.25, 0.5],
        [0.5, 4 / 6],
        [1, 5 / 6],
        [2, 1],
      ],
    );
    // Evidence that does not tell them apart: the defect bank stays unused.
    assert.equal(chooseLambda(good, [{ goodScore: 2.5, maxEvidence: 0 }]).lambda, 0);
    assert.throws(() => chooseLambda([], defect), { code: "calibrationFailed" });
  });

  it("places the F1-optimal thresholds and the good-only k-sigma threshold", function () {
    // Good-only: mean 2 + 3 x sd 1. PatchCore scores: F1 best flagging 1.5 and up (2 TP, 2 FP), midway
    // below 1.5. Defect-aware (lambda 2): defects at 3.5 and 4.5 above every good, midway above 3.
    assert.deepEqual(calibrateThresholds(good, defect, 2, 3), { goodOnly: 5, goodOnlyLabelled: 1.25, defectAware: 3.25 });
  });
});

describe("labelled defects of a dataset", function () {
  let dir = "";
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-bank-"));
    const image = (await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .png()
      .toBuffer()) as Buffer;
    for (const [type, name] of [
      ["a", "x"],
      ["a", "y"],
      ["b", "z"],
    ] as const) {
      await mkdir(join(dir, "train_defect", type), { recursive: true });
      await writeFile(join(dir, "train_defect", type, `${name}.png`), image);
    }
    await mkdir(join(dir, "ground_truth_train", "a"), { recursive: true });
    const mask = Buffer.alloc(40 * 40);
    mask.fill(255, 0, 80); // the first two rows: one row at half size
    await sharp(mask, { raw: { width: 40, height: 40, channels: 1 } })
      .png()
      .toFile(join(dir, "ground_truth_train", "a", "x_mask.png"));
    await mkdir(join(dir, "annotations", "train"), { recursive: true });
    await writeFile(join(dir, "annotations", "train", "y.json"), JSON.stringify({ defects: [{ box: [0, 0, 20, 10], type: "open" }] }));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("takes the first N sorted, with masks, boxes or image labels, skipping paired stems", async function () {
    const two = listLabelledDefects(dir, 2);
    assert.deepEqual(
      two.map((d) => [d.type, d.region?.kind ?? null]),
      [
        ["a", "mask"],
        ["a", "boxes"],
      ],
    );
    const mask = await loadDefectRegion(two[0] as LabelledDefect, 20, 20);
    assert.equal(
      mask?.reduce((n, v) => n + v, 0),
      20,
      "one mask row at half size",
    );
    const boxes = await loadDefectRegion(two[1] as LabelledDefect, 20, 20);
    assert.equal(
      boxes?.reduce((n, v) => n + v, 0),
      10 * 5,
      "box 20 x 10 of a 40 px image at 20 px",
    );
    const skipped = listLabelledDefects(dir, 2, new Set(["x"]));
    assert.deepEqual(
      skipped.map((d) => [d.type, d.region?.kind ?? null]),
      [
        ["a", "boxes"],
        ["b", null],
      ],
    );
    assert.equal(await loadDefectRegion(skipped[1] as LabelledDefect, 20, 20), null);
    assert.throws(() => listLabelledDefects(dir, 4), {
      code: "noTrainingImages",
      message: `4 labelled defects asked for, ${join(dir, "train_defect")} holds 3`,
    });
    assert.throws(() => listLabelledDefects(join(dir, "missing"), 1), { code: "folderNotFound" });
  });
});

describe("defect-aware evaluation on synthetic parts", function () {
  this.timeout(120_000);
  const SIZE = 64;
  let dir = "";
  let backbone = "";

  /** Grey noise; defects are a bright square at a seeded place. */
  async function part(path: string, seed: number, defect: boolean): Promise<void> {
    const pixels = Buffer.alloc(SIZE * SIZE * 3);
    let state = seed * 2654435761;
    for (let i = 0; i < SIZE * SIZE; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      pixels.fill(100 + (state % 30), i * 3, i * 3 + 3);
    }
    if (defect) {
      const x0 = 8 + ((seed * 7) % 40);
      const y0 = 8 + ((seed * 13) % 40);
      for (let y = y0; y < y0 + 10; y++) pixels.fill(250, (y * SIZE + x0) * 3, (y * SIZE + x0 + 10) * 3);
    }
    await sharp(pixels, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toFile(path);
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-aware-"));
    backbone = await writeTinyBackbone(dir);
    const folders: Array<[string, number, boolean]> = [
      ["train/good", 6, false],
      ["train_defect/spot", 3, true],
      ["test/good", 4, false],
      ["test/spot", 4, true],
    ];
    let seed = 1;
    for (const [folder, count, defect] of folders) {
      await mkdir(join(dir, "data", folder), { recursive: true });
      for (let i = 0; i < count; i++) await part(join(dir, "data", folder, `${folder.replace("/", "-")}-${i}.png`), seed++, defect);
    }
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports good-only and defect-aware operating points on the same test set", async function () {
    const before = openSessionCount();
    const extractor = await openPatchExtractor({ model: backbone, layers: ["l1", "l2"] });
    try {
      const report = await evaluateDefectAware({
        data: join(dir, "data"),
        extractor,
        preprocess: parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE }),
        shots: 3,
        defectShots: 3,
        calibrationShots: 3,
      });
      assert.deepEqual(JSON.parse(JSON.stringify(report)), report, "JSON-friendly");
      assert.deepEqual(
        [report.shots, report.defect_shots, report.calibration_shots, report.test_images, report.test_defects, report.defect_regions],
        [3, 3, 3, 8, 4, "top-patches"],
      );
      // 64 px input: the tiny backbone's l1 grid is 16 x 16 patches per image.
      assert.equal(report.bank_size, 38 /* 5 % of 3 x 16 x 16 patches */);
      assert.ok(report.defect_bank_size >= 3 && report.defect_bank_size <= 3 * 8, `defect bank ${report.defect_bank_size}`);
      for (const point of [report.good_only, report.good_only_labelled, report.defect_aware]) {
        assert.ok(point.image_auroc >= 0.9, `image AUROC ${point.image_auroc}`);
        assert.equal(point.pixel_auroc, null, "no masks");
      }
      assert.equal(report.good_only.calibration, "mean + k sd of held-out good scores");
      // Bright squares rank perfectly on PatchCore alone: every lambda ties, and the tie keeps 0,
      // so the defect-aware point is the labelled calibration of the PatchCore score itself.
      assert.equal(report.lambda, 0);
      assert.deepEqual(report.defect_aware, { ...report.good_only_labelled, calibration: report.defect_aware.calibration });
      assert.equal(report.good_only_labelled.f1_calibrated, 1);
    } finally {
      await extractor.release();
    }
    assert.equal(openSessionCount(), before, "every session released");
  });
});
