/**
 * Confirmed defects change scores: once a part is confirmed defect, its defect patches raise the
 * score of later parts with the same defect (e = max(0, d_good - d_defect), S = S_good + w max e),
 * while good parts and defect types never confirmed keep their PatchCore score exactly. Also: the
 * weight 0 switches it off, a save and reload keeps it, inspections running while the defect
 * search is installed finish on the pair they leased, and a background refresh of the good bank
 * keeps the defect bank in use.
 *
 * Geometry (8 values a patch, 4 patches a part, every value of a row in [0, 1) plus an offset):
 * good rows sit in the unit cube; a defect of type A adds OFFSET to value 0 of one patch, type B
 * adds OFFSET to value 1. With OFFSET = 10 and any two unit-cube rows u, v (|u - v| < sqrt 8 < 2.83):
 *   - an A patch: d_good >= 10 - 1 = 9, and d to a confirmed A row < 2.83, so e > 6;
 *   - a good patch: d_good < 2.83, and d to an A row >= 9, so e = 0;
 *   - a B patch: d_good < sqrt(11^2 + 7) = 11.3, and d to an A row >= sqrt(9^2 + 9^2) = 12.7, so e = 0.
 * These hold for whatever the random values are, so the assertions are exact, not tuned to a seed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PATCHCORE_OPTIONS, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { OnlineBank } from "../../src/lib/detector/online/online-bank";
import type { OnlineScores } from "../../src/lib/detector/online/online-scorers";
import { freshSnapshot, onlineBankFrom, saveOnlineBank } from "../../src/lib/detector/storage/online-store";
import type { PatchEmbedding } from "../../src/lib/features/types";
import { readModelFile } from "../../src/lib/persist";
import { Rng } from "../../src/lib/random";

const DIM = 8;
const PATCHES = 4;
const GOOD_ROWS = 64;
const OFFSET = 10;
/** The lower bound of an A patch's evidence (see the file comment). */
const MIN_A_EVIDENCE = 6;

type Kind = "good" | "A" | "B";

/** A 2 x 2 part; defect kinds shift one value of patch 3 by OFFSET. */
function partOf(kind: Kind, rng: Rng): PatchEmbedding {
  const data = Float32Array.from({ length: PATCHES * DIM }, () => rng.next());
  const shifted = 3 * DIM + (kind === "A" ? 0 : 1);
  if (kind !== "good") data[shifted] = (data[shifted] as number) + OFFSET;
  return { data, patches: PATCHES, dim: DIM, gridWidth: 2, gridHeight: 2 };
}

/** numNeighbors 1: the PatchCore image score is the largest patch distance. */
function options(cap: number): PatchCoreOptions {
  return { ...DEFAULT_PATCHCORE_OPTIONS, maxBankSize: cap, numNeighbors: 1, projectionDim: DIM, blurSigma: 0 };
}

function maxOf(values: Float32Array): number {
  return values.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
}

describe("confirmed defects in scoring", function () {
  this.timeout(60_000);
  let dir = "";
  const open: OnlineBank[] = [];
  const goodRows = Float32Array.from(
    { length: GOOD_ROWS * DIM },
    (
      (rng) => () =>
        rng.next()
    )(new Rng(11)),
  );

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-online-defects-"));
  });

  afterEach(async function () {
    await Promise.all(open.splice(0).map((b) => b.release()));
    await rm(dir, { recursive: true, force: true });
  });

  async function openBank(weight?: number, cap = 10_000): Promise<OnlineBank> {
    const snapshot = freshSnapshot({ data: goodRows, size: GOOD_ROWS, dim: DIM, projection: null });
    const bank = await OnlineBank.open(snapshot, options(cap), {}, weight);
    open.push(bank);
    return bank;
  }

  const score = (bank: OnlineBank, part: PatchEmbedding): Promise<OnlineScores> => bank.score(part, 2, 2);

  /** As the detector does: inspect, then the operator's verdict with the features it kept. */
  async function confirmDefect(bank: OnlineBank, part: PatchEmbedding): Promise<void> {
    const scored = await score(bank, part);
    bank.add("defect", { ...part, patchScores: scored.goodGrid.data, score: scored.goodScore });
    await bank.flush();
  }

  it("raises a recurring defect type, leaves good parts and an unseen defect type exactly as PatchCore scores them", async function () {
    const bank = await openBank();
    const rng = new Rng(12);
    const [nextA, good, unseenB] = [partOf("A", rng), partOf("good", rng), partOf("B", rng)];
    const before = await Promise.all([nextA, good, unseenB].map((p) => score(bank, p)));
    for (const b of before) assert.equal(b.defectEvidence, undefined, "no defect bank yet: no evidence reported");

    await confirmDefect(bank, partOf("A", rng));
    assert.equal(bank.counts().defect, 1, "the A patch only (ceil(4 x 5%) = 1 row)");
    const [a, g, b] = (await Promise.all([nextA, good, unseenB].map((p) => score(bank, p)))) as [OnlineScores, OnlineScores, OnlineScores];

    assert.ok(a.defectEvidence! > MIN_A_EVIDENCE, `evidence ${a.defectEvidence}`);
    assert.equal(a.goodScore, before[0]!.score, "the good bank did not change");
    assert.equal(a.score, before[0]!.score + a.defectEvidence!, "S = S_good + 1 x max e");
    assert.ok(a.score > before[0]!.score + MIN_A_EVIDENCE);
    assert.ok(maxOf(a.map.data) > maxOf(before[0]!.map.data) + MIN_A_EVIDENCE, "the map shows the evidence too");

    for (const [now, then, what] of [
      [g, before[1]!, "good part"],
      [b, before[2]!, "unseen defect type"],
    ] as const) {
      assert.equal(now.defectEvidence, 0, what);
      assert.equal(now.score, then.score, what);
      assert.deepEqual(now.map.data, then.map.data, what);
    }
  });

  it("weighs the evidence by defectWeight; 0 keeps confirmed defects out of the scores", async function () {
    const rng = new Rng(13);
    const [confirmed, nextA] = [partOf("A", rng), partOf("A", rng)];
    const scores = new Map<number, OnlineScores>();
    for (const weight of [0, 1, 4]) {
      const bank = await openBank(weight);
      await confirmDefect(bank, confirmed);
      assert.equal(bank.counts().defect, 1, "the defect is learned (and saved) whatever the weight");
      scores.set(weight, await score(bank, nextA));
    }
    const [w0, w1, w4] = [scores.get(0)!, scores.get(1)!, scores.get(4)!];
    assert.equal(w0.defectEvidence, undefined);
    assert.equal(w0.score, w0.goodScore);
    assert.equal(w1.defectEvidence, w4.defectEvidence);
    assert.equal(w1.score, w0.score + w1.defectEvidence!);
    assert.equal(w4.score, w0.score + 4 * w4.defectEvidence!);
  });

  it("is saved and read back: a reopened bank scores as the one that learned the defect", async function () {
    const bank = await openBank();
    const rng = new Rng(14);
    await confirmDefect(bank, partOf("A", rng));
    const nextA = partOf("A", rng);
    const live = await score(bank, nextA);
    const path = join(dir, "m.ddm");
    await saveOnlineBank(path, bank.snapshot(), { setting: "unsupervised" });
    const reopened = await OnlineBank.open(onlineBankFrom(await readModelFile(path), path), options(10_000), {});
    open.push(reopened);
    const read = await score(reopened, nextA);
    assert.ok(read.defectEvidence! > MIN_A_EVIDENCE);
    assert.equal(read.score, live.score);
  });

  it("lets an inspection leased before the install finish on the previous pair, and the good scorer outlives it", async function () {
    const bank = await openBank();
    const rng = new Rng(15);
    const [confirmed, nextA] = [partOf("A", rng), partOf("A", rng)];
    const plain = await score(bank, nextA);
    const scored = await score(bank, confirmed);
    bank.add("defect", { ...confirmed, patchScores: scored.goodGrid.data, score: scored.goodScore });
    // The lease is taken when score() is called, before the flush below installs the defect search.
    const during = score(bank, nextA);
    await bank.flush();
    assert.equal((await during).score, plain.score, "scored on the pair installed when it started");
    assert.equal((await during).defectEvidence, undefined);
    // The previous pair is released by now; the good scorer it shared with the new pair is not.
    const after = await score(bank, nextA);
    assert.ok(after.defectEvidence! > MIN_A_EVIDENCE);
    assert.equal(after.goodScore, plain.score);
  });

  it("keeps the defect bank in use across a background coreset refresh of the good bank", async function () {
    const cap = GOOD_ROWS + 8;
    const bank = await openBank(1, cap);
    const rng = new Rng(16);
    await confirmDefect(bank, partOf("A", rng));
    const nextA = partOf("A", rng);
    // Three good parts (12 rows) pass the cap of 72: the flush starts a refresh down to 80 %.
    for (let i = 0; i < 3; i++) {
      const g = partOf("good", rng);
      bank.add("good", { ...g, patchScores: new Float32Array(PATCHES), score: 0 });
    }
    await bank.flush();
    assert.equal(bank.counts().refreshing, true);
    await bank.idle();
    assert.ok(bank.counts().good < GOOD_ROWS, `refreshed to ${bank.counts().good} rows`);
    const after = await score(bank, nextA);
    assert.ok(after.defectEvidence! > MIN_A_EVIDENCE);
    assert.equal(after.score, after.goodScore + after.defectEvidence!);
  });
});
