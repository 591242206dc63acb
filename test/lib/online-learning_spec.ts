/**
 * Learning on the line, below the node: the bank takes exactly the confirmed parts, stays
 * within its cap through 10,000 confirmations while coreset refreshes run in the background,
 * saved versions roll back byte for byte, parts are remembered by id within a bound, and the
 * drift ratio follows the median of confirmed-good scores. Tiny features (8 values, 4 patches a
 * part) keep it to seconds.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PATCHCORE_OPTIONS, type MemoryBank, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { driftReport, emptyDrift, median, recordGoodScore } from "../../src/lib/detector/online/drift";
import { ModelVersions, versionPath } from "../../src/lib/detector/storage/model-versions";
import { DEFECT_PATCH_FRACTION, OnlineBank, REFRESH_FILL } from "../../src/lib/detector/online/online-bank";
import { freshSnapshot, onlineBankFrom, saveOnlineBank, type OnlineSnapshot } from "../../src/lib/detector/storage/online-store";
import { RecentParts, type RememberedPart } from "../../src/lib/detector/online/recent-parts";
import type { PartFeatures } from "../../src/lib/detector/types";
import { DefectError } from "../../src/lib/errors";
import { readModelFile, writeFileAtomic } from "../../src/lib/persist";
import { Rng } from "../../src/lib/random";

const DIM = 8;
const PATCHES = 4;

function rows(count: number, rng: Rng, offset = 0): Float32Array {
  return Float32Array.from({ length: count * DIM }, () => offset + rng.next());
}

function part(rng: Rng, offset = 0, patches = PATCHES): PartFeatures {
  return {
    data: rows(patches, rng, offset),
    patches,
    dim: DIM,
    gridWidth: patches,
    gridHeight: 1,
    patchScores: Float32Array.from({ length: patches }, (_, i) => i),
    score: 1,
  };
}

function snapshotOf(bank: MemoryBank): OnlineSnapshot {
  return freshSnapshot(bank);
}

function options(cap: number): PatchCoreOptions {
  return { ...DEFAULT_PATCHCORE_OPTIONS, maxBankSize: cap, numNeighbors: 1, projectionDim: DIM };
}

function rowsEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe("learning on the line", function () {
  this.timeout(120_000);
  let dir = "";
  const open: OnlineBank[] = [];

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-online-"));
  });

  afterEach(async function () {
    await Promise.all(open.splice(0).map((b) => b.release()));
    await rm(dir, { recursive: true, force: true });
  });

  async function openBank(initialRows: number, cap: number, seed = 1): Promise<OnlineBank> {
    const data = rows(initialRows, new Rng(seed));
    const bank = await OnlineBank.open(snapshotOf({ data, size: initialRows, dim: DIM, projection: null }), options(cap), {});
    open.push(bank);
    return bank;
  }

  describe("the online bank", function () {
    it("adds exactly the confirmed parts: good rows to the bank, a defect's top patches to the defect bank", async function () {
      const bank = await openBank(10, 1000);
      const rng = new Rng(2);
      const goods = [part(rng, 10), part(rng, 20), part(rng, 30)];
      const defectPart = part(rng, 40, 40);
      for (const g of goods) bank.add("good", g);
      bank.add("defect", defectPart);
      assert.deepEqual(bank.counts(), {
        good: 10,
        pending: 12,
        defect: 2,
        labelled: 0,
        shotsLearned: 3,
        defectsLearned: 1,
        version: 1,
        updated: bank.counts().updated,
        refreshing: false,
      });
      await bank.flush();
      const counts = bank.counts();
      assert.deepEqual([counts.good, counts.pending, counts.defect], [10 + 3 * PATCHES, 0, Math.ceil(40 * DEFECT_PATCH_FRACTION)]);
      const snapshot = bank.snapshot();
      const added = snapshot.bank.data.subarray(10 * DIM);
      assert.ok(rowsEqual(added, Float32Array.from(goods.flatMap((g) => [...g.data]))), "the good rows, in confirmation order");
      // patchScores are 0..39: the two highest are patches 38 and 39.
      assert.ok(rowsEqual(snapshot.defect, defectPart.data.subarray(38 * DIM)), "the defect's highest-scoring patches");
      assert.equal(typeof counts.updated, "string");
    });

    it("refuses a part of another feature size", async function () {
      const bank = await openBank(10, 100);
      const wrong: PartFeatures = { data: new Float32Array(12), patches: 2, dim: 6, gridWidth: 2, gridHeight: 1, patchScores: new Float32Array(2), score: 0 };
      assert.throws(
        () => bank.add("good", wrong),
        (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch" && e.message === "the part's features have 6 values, the memory bank 8",
      );
    });

    it("holds the cap through 10,000 confirmations, refreshing in the background while inspections go on", async function () {
      const cap = 64;
      const bank = await openBank(32, cap);
      const rng = new Rng(3);
      let maxSeen = 0;
      let maxQueued = 0;
      let sawRefresh = 0;
      let scoredDuringRefresh = 0;
      const observe = (): void => {
        const c = bank.counts();
        maxSeen = Math.max(maxSeen, c.good);
        maxQueued = Math.max(maxQueued, c.pending);
        if (c.refreshing) sawRefresh++;
      };
      const watcher = setInterval(observe, 1);
      const query = { data: rows(PATCHES, rng), patches: PATCHES, dim: DIM, gridWidth: 2, gridHeight: 2 };
      try {
        for (let i = 0; i < 10_000; i++) {
          bank.add("good", part(rng, i % 7));
          observe();
          if (i % 100 === 99) {
            await bank.flush();
            observe();
            if (bank.counts().refreshing) {
              const scored = await bank.score(query, 2, 2);
              assert.ok(Number.isFinite(scored.score));
              scoredDuringRefresh++;
            }
          }
        }
        for (let round = 0; bank.counts().pending > 0 || bank.counts().refreshing; round++) {
          assert.ok(round < 100, "the queue drains");
          await bank.idle();
          await bank.flush();
          observe();
        }
      } finally {
        clearInterval(watcher);
      }
      const final = bank.counts();
      assert.ok(maxSeen <= cap, `the bank reached ${maxSeen} rows, cap ${cap}`);
      assert.ok(maxQueued <= 2 * cap, `queued rows stay bounded (${maxQueued})`);
      assert.equal(final.shotsLearned, 10_000);
      assert.ok(final.good <= cap && final.good >= Math.floor(cap * REFRESH_FILL), `final bank ${final.good}`);
      assert.ok(sawRefresh > 0 && scoredDuringRefresh > 0, "refreshes ran while inspections were answered");
      assert.equal(bank.snapshot().bank.data.length, final.good * DIM);
    });

    it("is saved with its queue, defect bank, counters and drift, and read back the same", async function () {
      const bank = await openBank(10, 1000);
      const rng = new Rng(4);
      bank.add("good", part(rng));
      bank.add("defect", part(rng, 5, 20));
      bank.drift = recordGoodScore(emptyDrift(), 0.5, 3);
      const path = join(dir, "m.ddm");
      await saveOnlineBank(path, bank.snapshot(), { setting: "unsupervised" });
      const read = onlineBankFrom(await readModelFile(path), path);
      const saved = bank.snapshot();
      assert.ok(rowsEqual(read.bank.data, saved.bank.data));
      assert.ok(rowsEqual(read.pending, saved.pending) && read.pending.length === PATCHES * DIM);
      assert.ok(rowsEqual(read.defect, saved.defect) && read.defect.length === DIM);
      assert.deepEqual(read.counters, saved.counters);
      assert.deepEqual(read.drift, { baseline: null, recent: [0.5] });
    });
  });

  describe("saved versions", function () {
    async function commit(versions: ModelVersions, text: string): Promise<void> {
      // As every model save does: an atomic write replaces the file, never rewrites it in place.
      await versions.commit((path) => writeFileAtomic(path, [Buffer.from(text)]));
    }
    const current = (versions: ModelVersions): Promise<string> => readFile(versions.path, "utf8");

    it("keeps the previous versions and rolls back to each, byte for byte", async function () {
      const versions = new ModelVersions(join(dir, "det.ddm"), 5);
      await commit(versions, "A");
      await commit(versions, "B");
      await commit(versions, "C");
      assert.equal(versionPath(versions.path, 2), join(dir, "det.v2.ddm"));
      assert.deepEqual(await Promise.all([current(versions), readFile(versions.history[0]!, "utf8"), readFile(versions.history[1]!, "utf8")]), ["C", "B", "A"]);
      assert.equal(await versions.rollback(), true);
      assert.equal(await current(versions), "B");
      assert.equal(await versions.rollback(), true);
      assert.equal(await current(versions), "A");
      assert.equal(await versions.rollback(), false, "nothing older");
      assert.equal(await current(versions), "A");
    });

    it("keeps only the configured number, and a discarded model can be rolled back", async function () {
      const versions = new ModelVersions(join(dir, "det.ddm"), 2);
      for (const text of ["1", "2", "3", "4"]) await commit(versions, text);
      assert.deepEqual(await Promise.all(versions.history.map((p) => readFile(p, "utf8"))), ["3", "2"]);
      await assert.rejects(stat(versionPath(versions.path, 3)), /ENOENT/);
      assert.equal(await versions.discard(), true);
      await assert.rejects(stat(versions.path), /ENOENT/);
      assert.equal(await versions.rollback(), true);
      assert.equal(await current(versions), "4");
      assert.equal(await new ModelVersions(join(dir, "none.ddm")).rollback(), false);
    });
  });

  describe("recent parts", function () {
    it("remembers the last M parts by id and gives each once", function () {
      const recent = new RecentParts(3);
      const rng = new Rng(5);
      const remembered = (rng: Rng): RememberedPart => ({ part: part(rng), geometry: { width: 8, height: 8, transform: undefined } });
      for (const id of ["a", "b", "c", "d"]) recent.remember(id, remembered(rng));
      assert.deepEqual(recent.ids, ["b", "c", "d"]);
      recent.remember("b", remembered(rng));
      assert.deepEqual(recent.ids, ["c", "d", "b"]);
      assert.equal(recent.take("c").part.patches, PATCHES);
      assert.deepEqual(recent.ids, ["d", "b"]);
      assert.throws(
        () => recent.take("a"),
        (e: unknown) =>
          e instanceof DefectError &&
          e.code === "unknownPart" &&
          e.message === 'part a is not among the last 3 inspections: confirm it sooner, raise "Remember parts", or send the image with the verdict',
      );
    });
  });

  describe("drift", function () {
    it("compares the median of the last W confirmed-good scores with the first W", function () {
      const window = 3;
      let record = emptyDrift();
      for (const score of [1, 3, 2]) record = recordGoodScore(record, score, window);
      assert.deepEqual(driftReport(record, window), { ratio: 1, confirmedGood: 3, window });
      for (const score of [4, 6, 5]) record = recordGoodScore(record, score, window);
      assert.deepEqual(record, { baseline: 2, recent: [4, 6, 5] });
      assert.deepEqual(driftReport(record, window), { ratio: 2.5, confirmedGood: 3, window });
      assert.deepEqual(driftReport(recordGoodScore(emptyDrift(), 1, window), window), { ratio: null, confirmedGood: 1, window });
      assert.equal(median([4, 1, 3, 2]), 2.5);
    });
  });
});
