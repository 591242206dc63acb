/**
 * The patch head on the line (lib): which rows a labelled defect gives it, its evidence as the
 * onnxruntime graph computes it against the classifier's own arithmetic, where boxes and masks
 * fall on the patch grid (and the errors for those that cannot be placed), and the online bank
 * learning a confirmed defect with a region: the head is fitted on a worker, raises a recurring
 * defect, leaves good parts exactly as PatchCore scores them, is saved and read back to the bit,
 * is fitted again when the file holds labelled parts it was not fitted on, and is kept out of
 * the scores by weight 0.
 *
 * Geometry of the bank tests (as online-defects_spec.ts): 8 values a patch, 2 x 2 patches a part,
 * good rows in the unit cube; a defect of type A adds OFFSET to value 0 of patch 3.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PATCH_CLASSIFIER_OPTIONS, patchLogits, trainPatchClassifier, type PatchClassifier } from "../../src/lib/anomaly/patchcore/patch-classifier";
import { DEFAULT_PATCHCORE_OPTIONS, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { HEAD_L2, openHeadScorer, regionRows } from "../../src/lib/anomaly/patchcore/region-head";
import { regionGrid, type PartGeometry } from "../../src/lib/detector/online/defect-region";
import { compactTensor, type KeptImage } from "../../src/lib/detector/online/kept-calibration";
import { OnlineBank } from "../../src/lib/detector/online/online-bank";
import type { OnlineScores } from "../../src/lib/detector/online/online-scorers";
import { freshSnapshot, onlineBankFrom, saveOnlineBank, type OnlineSnapshot } from "../../src/lib/detector/storage/online-store";
import { DefectError } from "../../src/lib/errors";
import type { PatchExtractor } from "../../src/lib/features/extractor";
import type { PatchEmbedding } from "../../src/lib/features/types";
import type { Tensor } from "../../src/lib/image/types";
import { computeTransform } from "../../src/lib/image/transform";
import type { DefectRegion } from "../../src/lib/message";
import { readModelFile } from "../../src/lib/persist";
import { Rng } from "../../src/lib/random";

function refusedWith(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DefectError, String(e));
    assert.deepEqual([e.code, e.message], [code, message]);
    return true;
  });
}

describe("patch head", function () {
  it("learns a labelled image's region patches as defects and every 8th of its other patches as good", function () {
    const embedding: PatchEmbedding = { data: Float32Array.from({ length: 16 * 2 }, (_, i) => i), patches: 16, dim: 2, gridWidth: 4, gridHeight: 4 };
    const region = new Uint8Array(16);
    region[3] = 1;
    region[8] = 1;
    const rows = regionRows({ embedding, region });
    assert.deepEqual([...rows.positive], [6, 7, 16, 17], "patches 3 and 8");
    assert.deepEqual([...rows.negative], [0, 1], "patch 0 (patch 8, the other multiple of 8, is in the region)");
    assert.throws(() => regionRows({ embedding, region: new Uint8Array(4) }), RangeError);
  });

  it("scores on a session worker what the classifier's own arithmetic gives: max(0, logit), 0 below the boundary", async function () {
    const rng = new Rng(3);
    const dim = 24;
    const classifier: PatchClassifier = {
      dim,
      mean: Float32Array.from({ length: dim }, () => rng.next() - 0.5),
      invStd: Float32Array.from({ length: dim }, () => 0.5 + rng.next()),
      weights: Float32Array.from({ length: dim }, () => rng.next() - 0.5),
      bias: 0.25,
    };
    const patches = 50;
    const data = Float32Array.from({ length: patches * dim }, () => 4 * (rng.next() - 0.5));
    const scorer = await openHeadScorer(classifier);
    try {
      const evidence = await scorer.evidence({ data, patches, dim, gridWidth: 10, gridHeight: 5 });
      const logits = patchLogits(classifier, data, patches);
      let below = 0;
      logits.forEach((logit, p) => {
        if (logit < -1e-4) below += 1;
        if (logit <= 0) assert.ok((evidence[p] as number) === 0 || Math.abs(logit) < 1e-4, `patch ${p}: logit ${logit}, evidence ${evidence[p]}`);
        else assert.ok(Math.abs((evidence[p] as number) - logit) <= 1e-4 * Math.max(1, logit), `patch ${p}: ${evidence[p]} vs ${logit}`);
      });
      assert.ok(below > 5 && below < patches - 5, `both sides of the boundary are tested (${below} below)`);
      await assert.rejects(scorer.evidence({ data: new Float32Array(3), patches: 1, dim: 3, gridWidth: 1, gridHeight: 1 }), {
        code: "inputShapeMismatch",
        message: "patch features have 3 values, the patch head 24",
      });
    } finally {
      await scorer.release();
    }
  });
});

describe("a confirmed defect's region on the patch grid", function () {
  // A 40 x 20 image stretched to an 8 x 8 tensor (x / 5, y / 2.5), 4 x 4 patches of 2 x 2 tensor pixels.
  const stretched: PartGeometry = {
    width: 8,
    height: 8,
    transform: computeTransform({ width: 40, height: 20 }, null, { width: 8, height: 8, resize: "stretch" }),
  };
  const cells = (grid: Uint8Array): number[] => [...grid.keys()].filter((i) => grid[i] !== 0);
  const boxes = (...list: Array<[number, number, number, number]>): DefectRegion => ({
    kind: "boxes",
    boxes: list.map(([x, y, width, height]) => ({ x, y, width, height })),
  });

  it("places boxes in original pixels through the transform, every cell they touch", function () {
    // x 10..15 -> tensor 2..3 (cell column 1); y 5..10 -> tensor 2..4 (cell row 1).
    assert.deepEqual(cells(regionGrid(boxes([10, 5, 5, 5]), stretched, 4, 4)), [5]);
    // Straddling cells: x 18..22 -> tensor 3.6..4.4 (columns 1 and 2); the last pixel of the image -> the last cell.
    assert.deepEqual(cells(regionGrid(boxes([18, 0, 4, 1], [39, 19, 1, 1]), stretched, 4, 4)), [1, 2, 15]);
    // Without a transform the boxes are tensor pixels.
    assert.deepEqual(cells(regionGrid(boxes([6, 6, 2, 2]), { width: 8, height: 8, transform: undefined }, 4, 4)), [15]);
  });

  it("refuses a box outside the image, or where the model never looks", function () {
    refusedWith(
      () => regionGrid(boxes([0, 0, 1, 1], [35, 10, 6, 5]), stretched, 4, 4),
      "invalidOption",
      "msg.confirm.boxes[1] (x 35, y 10, 6 x 5) is not inside the 40 x 20 image (original image pixels, through msg.transform)",
    );
    refusedWith(
      () => regionGrid(boxes([7, 7, 2, 2]), { width: 8, height: 8, transform: undefined }, 4, 4),
      "invalidOption",
      "msg.confirm.boxes[0] (x 7, y 7, 2 x 2) is not inside the 8 x 8 image (tensor pixels: the part came without msg.transform)",
    );
    // Centre-cropped to its middle 20 x 20: the left quarter of the image never reaches the tensor.
    const cropped: PartGeometry = {
      width: 8,
      height: 8,
      transform: computeTransform({ width: 40, height: 20 }, null, { width: 8, height: 8, resize: "center-crop" }),
    };
    refusedWith(
      () => regionGrid(boxes([0, 0, 5, 5]), cropped, 4, 4),
      "invalidOption",
      "msg.confirm.boxes[0] (x 0, y 0, 5 x 5) lies outside the part of the image the model sees (the ROI, padding or crop of msg.transform)",
    );
  });

  it("places a mask in original pixels through the transform, or in the tensor's (space model)", function () {
    const original = new Uint8Array(40 * 20);
    original[19 * 40 + 39] = 255;
    original[0] = 1;
    assert.deepEqual(cells(regionGrid({ kind: "mask", mask: { data: original, width: 40, height: 20, space: "original" } }, stretched, 4, 4)), [0, 15]);
    const model = new Uint8Array(64);
    model[2 * 8 + 5] = 1;
    assert.deepEqual(cells(regionGrid({ kind: "mask", mask: { data: model, width: 8, height: 8, space: "model" } }, stretched, 4, 4)), [6]);
  });

  it("refuses a mask of another size than the image (or the tensor, space model)", function () {
    const mask = { data: new Uint8Array(64).fill(1), width: 8, height: 8 };
    refusedWith(
      () => regionGrid({ kind: "mask", mask: { ...mask, space: "original" } }, stretched, 4, 4),
      "maskSizeMismatch",
      "msg.confirm.mask is 8 x 8 but the original image is 40 x 20",
    );
    refusedWith(
      () => regionGrid({ kind: "mask", mask: { data: new Uint8Array(800).fill(1), width: 40, height: 20, space: "model" } }, stretched, 4, 4),
      "maskSizeMismatch",
      "msg.confirm.mask is 40 x 20 but the tensor (space model) is 8 x 8",
    );
  });
});

describe("the online bank learning confirmed defects with regions", function () {
  this.timeout(60_000);
  const DIM = 8;
  const PATCHES = 4;
  const GOOD_ROWS = 64;
  const OFFSET = 10;
  /** Patch 3 of a 2 x 2 part: where the defect is. */
  const REGION = Uint8Array.from([0, 0, 0, 1]);
  let dir = "";
  const open: OnlineBank[] = [];
  const goodRows = ((rng) => Float32Array.from({ length: GOOD_ROWS * DIM }, () => rng.next()))(new Rng(21));

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-patch-head-"));
  });

  afterEach(async function () {
    await Promise.all(open.splice(0).map((b) => b.release()));
    await rm(dir, { recursive: true, force: true });
  });

  function partOf(defect: boolean, rng: Rng): PatchEmbedding {
    const data = Float32Array.from({ length: PATCHES * DIM }, () => rng.next());
    if (defect) data[3 * DIM] = (data[3 * DIM] as number) + OFFSET;
    return { data, patches: PATCHES, dim: DIM, gridWidth: 2, gridHeight: 2 };
  }

  function options(): PatchCoreOptions {
    return { ...DEFAULT_PATCHCORE_OPTIONS, numNeighbors: 1, projectionDim: DIM, blurSigma: 0 };
  }

  async function openSnapshot(snapshot: OnlineSnapshot, weight?: number): Promise<OnlineBank> {
    const bank = await OnlineBank.open(snapshot, options(), {}, weight);
    open.push(bank);
    return bank;
  }

  function fresh(): OnlineSnapshot {
    return freshSnapshot({ data: goodRows, size: GOOD_ROWS, dim: DIM, projection: null });
  }

  const score = (bank: OnlineBank, part: PatchEmbedding): Promise<OnlineScores> => bank.score(part, 2, 2);

  async function confirm(bank: OnlineBank, part: PatchEmbedding, region: Uint8Array | undefined): Promise<void> {
    const scored = await score(bank, part);
    bank.add("defect", { ...part, patchScores: scored.goodGrid.data, score: scored.goodScore }, region);
    await bank.flush();
  }

  async function reopen(bank: OnlineBank, weight?: number): Promise<OnlineBank> {
    const path = join(dir, `saved-${open.length}.ddm`);
    await saveOnlineBank(path, bank.snapshot(), {});
    return openSnapshot(onlineBankFrom(await readModelFile(path), path), weight);
  }

  it("fits the head on a confirmed defect's region: the same defect scores higher, good parts exactly as before", async function () {
    const bank = await openSnapshot(fresh());
    const rng = new Rng(22);
    const [nextDefect, ...goods] = [partOf(true, rng), partOf(false, rng), partOf(false, rng), partOf(false, rng)] as [PatchEmbedding, ...PatchEmbedding[]];
    const before = await Promise.all([nextDefect, ...goods].map((p) => score(bank, p)));
    assert.equal(before[0]!.headEvidence, undefined, "no head yet");

    await confirm(bank, partOf(true, rng), REGION);
    const counts = bank.counts();
    assert.deepEqual([counts.labelled, counts.defect, counts.defectsLearned], [1, 0, 1], "a region teaches the head, not the defect bank");
    const [defect, ...good] = await Promise.all([nextDefect, ...goods].map((p) => score(bank, p)));
    assert.ok(defect!.headEvidence! > 1, `evidence ${defect!.headEvidence}`);
    assert.equal(defect!.goodScore, before[0]!.score, "the good bank did not change");
    assert.equal(defect!.score, before[0]!.score + defect!.headEvidence!, "S = S_good + 1 x max h");
    good.forEach((now, i) => {
      assert.equal(now.headEvidence, 0, `good part ${i}`);
      assert.equal(now.score, before[i + 1]!.score, `good part ${i}`);
      assert.deepEqual(now.map.data, before[i + 1]!.map.data, `good part ${i}`);
    });

    // Saved and read back: the fitted head itself, not a new fit, so every score is the same to the bit.
    const restarted = await reopen(bank);
    assert.deepEqual(restarted.snapshot().head, bank.snapshot().head);
    const again = await score(restarted, nextDefect);
    assert.deepEqual([again.score, again.headEvidence, [...again.map.data]], [defect!.score, defect!.headEvidence, [...defect!.map.data]]);
  });

  it("scores the learned images it keeps again as the installed scorers would: unchanged without a confirmed defect, plus the head's evidence after one; saved and read back", async function () {
    const probe = await openSnapshot(fresh());
    const rng = new Rng(26);
    const plain = partOf(false, rng);
    // A good part with a fainter mark where the defect will be: the head fires on it too.
    const marked = partOf(false, rng);
    marked.data[3 * DIM] = (marked.data[3 * DIM] as number) + 0.7 * OFFSET;
    // A stand-in backbone: the tensor's values are the part's patch features, as they were given.
    const extractor = { embed: async (t: Tensor) => ({ data: t.data, patches: PATCHES, dim: DIM, gridWidth: 2, gridHeight: 2 }) } as unknown as PatchExtractor;
    const tensorOf = (p: PatchEmbedding): Tensor => ({ data: p.data.slice(), dims: [1, DIM, 2, 2], layout: "NCHW" });
    const kept: KeptImage[] = [];
    for (const p of [plain, marked]) {
      const scored = await score(probe, p);
      kept.push({ tensor: compactTensor(tensorOf(p)), score: scored.score, grid: scored.goodGrid.data });
    }
    const bank = await openSnapshot({ ...fresh(), kept });
    assert.equal(await bank.leftOutScores(extractor), undefined, "nothing confirmed: the handed scores stand");

    await confirm(bank, partOf(true, rng), REGION);
    const again = (await bank.leftOutScores(extractor)) as number[];
    const now = [await score(bank, plain), await score(bank, marked)];
    assert.ok(now[1]!.headEvidence! > 1, `the head fires on the marked good part: ${now[1]!.headEvidence}`);
    assert.equal(again[0], kept[0]!.score, "no evidence on the plain part: its score as handed");
    // Its score from before plus the head's evidence: what an inspection of it gives now.
    assert.ok(Math.abs(again[1]! - now[1]!.score) < 1e-9, `${again[1]} again, ${now[1]!.score} inspected`);
    assert.ok(again[1]! > kept[1]!.score + 1);

    // Saved with the model and read back: the same images, scores and distances, so the same scores again.
    const restarted = await reopen(bank);
    assert.deepEqual(restarted.snapshot().kept, kept);
    assert.deepEqual(await restarted.leftOutScores(extractor), again);
  });

  it("fits the head again when a file holds labelled parts it was not fitted on", async function () {
    const bank = await openSnapshot(fresh());
    const rng = new Rng(23);
    await confirm(bank, partOf(true, rng), REGION);
    const saved = bank.snapshot();
    // As if the process stopped between a second verdict's save and its fit.
    const second = regionRows({ embedding: partOf(true, rng), region: REGION });
    const stale: OnlineSnapshot = { ...saved, labelled: [...saved.labelled, second], labelledRevision: 2 };
    const reopened = await openSnapshot(stale);
    assert.equal(reopened.snapshot().head?.revision, 2);
    assert.notDeepEqual(reopened.snapshot().head?.classifier.weights, saved.head?.classifier.weights);
    assert.ok((await score(reopened, partOf(true, rng))).headEvidence! > 1);
  });

  it("keeps the head learned and saved but out of the scores at weight 0, and beside the defect bank otherwise", async function () {
    const rng = new Rng(24);
    const bank = await openSnapshot(fresh());
    await confirm(bank, partOf(true, rng), REGION);
    // A defect without a region still goes to the defect bank; both evidences then add up.
    await confirm(bank, partOf(true, rng), undefined);
    assert.deepEqual([bank.counts().labelled, bank.counts().defect], [1, 1]);
    const next = partOf(true, rng);
    const both = await score(bank, next);
    assert.ok(both.defectEvidence! > 0 && both.headEvidence! > 0);
    const unweighted = await reopen(bank, 0);
    assert.equal(unweighted.counts().labelled, 1);
    const plain = await score(unweighted, next);
    assert.deepEqual([plain.score, plain.headEvidence, plain.defectEvidence], [both.goodScore, undefined, undefined]);
    assert.ok(Math.abs(both.score - (both.goodScore + both.defectEvidence! + both.headEvidence!)) < 1e-4, "S = S_good + max(e + h), here at the same patch");
  });

  it("trains the head in a worker thread: the classifier trainPatchClassifier gives on the good bank's rows and the part's own", async function () {
    // The classifier the worker fitted is the one trainPatchClassifier gives on the main thread.
    const rng = new Rng(25);
    const bank = await openSnapshot(fresh());
    const part = partOf(true, rng);
    await confirm(bank, part, REGION);
    const rows = regionRows({ embedding: part, region: REGION });
    const negatives = new Float32Array(goodRows.length + rows.negative.length);
    negatives.set(goodRows);
    negatives.set(rows.negative, goodRows.length);
    const direct = trainPatchClassifier(rows.positive, negatives, DIM, { ...DEFAULT_PATCH_CLASSIFIER_OPTIONS, l2: HEAD_L2 });
    assert.deepEqual(bank.snapshot().head?.classifier, direct);
  });
});
