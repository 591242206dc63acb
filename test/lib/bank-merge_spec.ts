/**
 * Merging banks from several lines: matching banks become one coreset within the cap (every row
 * from a source, defect rows kept), mismatched ones are refused naming what differs and nothing
 * is written; the CLI's `bank merge` and `bank info` say the same.
 */
import { compactTensor, type KeptImage } from "../../src/lib/detector/online/kept-calibration";
import type { Appearance } from "../../src/lib/anomaly/patchcore/appearance";
import { fitLookalikes } from "../../src/lib/anomaly/patchcore/lookalikes";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeBankFiles } from "../../src/offline/patchcore/bank-merge";
import { loadMemoryBank } from "../../src/lib/anomaly/patchcore/bank-store";
import { emptyDrift } from "../../src/lib/detector/online/drift";
import { freshCounters, onlineBankFrom, saveOnlineBank, type LabelledPart } from "../../src/lib/detector/storage/online-store";
import { OnlineBank } from "../../src/lib/detector/online/online-bank";
import { DEFAULT_PATCHCORE_OPTIONS } from "../../src/lib/anomaly/patchcore/patchcore";
import { DefectError } from "../../src/lib/errors";
import { readModelFile } from "../../src/lib/persist";
import { Rng } from "../../src/lib/random";
import { runCli } from "../../src/cli/main";

const DIM = 8;
const SHA = "ab".repeat(32);

function record(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    setting: "unsupervised",
    method: "patchcore",
    backbone: { name: "line1.onnx", size: 1000, sha256: SHA, input: "input" },
    layers: ["l1", "l2"],
    created: "2026-01-01T00:00:00.000Z",
    trainedOn: 4,
    input: { dims: [1, 3, 64, 64], layout: "NCHW" },
    preprocessing: null,
    options: {},
    ...overrides,
  };
}

async function writeBank(
  path: string,
  size: number,
  seed: number,
  defectRows = 0,
  metadata = record(),
  labelled: LabelledPart[] = [],
  appearance: Appearance | null = null,
  kept: KeptImage[] = [],
  places: Float32Array | null = null,
): Promise<Float32Array> {
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: size * DIM }, () => rng.next() + seed);
  const defect = Float32Array.from({ length: defectRows * DIM }, () => -seed);
  const counters = { ...freshCounters(), shotsLearned: seed, defectsLearned: defectRows };
  await saveOnlineBank(
    path,
    {
      bank: { data, size, dim: DIM, projection: null },
      pending: new Float32Array(0),
      defect,
      counters,
      drift: emptyDrift(),
      kept,
      labelled,
      labelledRevision: labelled.length,
      head: null,
      appearance,
      places,
    },
    metadata,
  );
  return data;
}

function hasRow(rows: Float32Array, count: number, row: Float32Array): boolean {
  for (let r = 0; r < count; r++) if (row.every((v, c) => rows[r * DIM + c] === v)) return true;
  return false;
}

function io(): { io: { stdout: { write(t: string): void }; stderr: { write(t: string): void } }; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return { io: { stdout: { write: (t) => (out += t) }, stderr: { write: (t) => (err += t) } }, out: () => out, err: () => err };
}

describe("merging banks across lines", function () {
  this.timeout(60_000);
  let dir = "";
  let a = "";
  let b = "";
  let rowsA: Float32Array;
  let rowsB: Float32Array;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-merge-"));
    a = join(dir, "A.ddm");
    b = join(dir, "B.ddm");
    rowsA = await writeBank(a, 30, 1, 2);
    // A renamed copy of the same backbone still matches: identity is by content.
    rowsB = await writeBank(b, 40, 2, 3, record({ backbone: { name: "copy.onnx", size: 1000, sha256: SHA, input: "input" } }));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("merges matching banks into a coreset within the cap, every row from a source, defect rows kept", async function () {
    const out = join(dir, "merged.ddm");
    const summary = await mergeBankFiles([a, b], out, { maxBankSize: 50 });
    assert.deepEqual([summary.unionRows, summary.bankSize, summary.defectRows, summary.dim], [70, 50, 5, DIM]);
    const file = await readModelFile(out);
    const merged = onlineBankFrom(file, out);
    assert.equal(merged.bank.size, 50);
    for (let r = 0; r < 50; r++) {
      const row = merged.bank.data.subarray(r * DIM, (r + 1) * DIM);
      assert.ok(hasRow(rowsA, 30, row) || hasRow(rowsB, 40, row), `row ${r} comes from A or B`);
    }
    assert.equal(merged.defect.length, 5 * DIM);
    assert.deepEqual([merged.counters.shotsLearned, merged.counters.defectsLearned], [3, 5]);
    assert.deepEqual([file.metadata["trainedOn"], file.metadata["layers"]], [8, ["l1", "l2"]]);
  });

  it("keeps every line's confirmed defects with regions, and the detector fits one head on all of them", async function () {
    const part = (value: number): LabelledPart => ({ positive: new Float32Array(DIM).fill(value + 10), negative: new Float32Array(2 * DIM).fill(value) });
    await writeBank(a, 30, 1, 0, record(), [part(1)]);
    await writeBank(b, 40, 2, 0, record(), [part(2), part(3)]);
    const out = join(dir, "merged.ddm");
    await mergeBankFiles([a, b], out, { maxBankSize: 1000 });
    const merged = onlineBankFrom(await readModelFile(out), out);
    assert.deepEqual(
      merged.labelled.map((p) => [p.positive[0], p.negative.length / DIM]),
      [
        [11, 2],
        [12, 2],
        [13, 2],
      ],
    );
    assert.deepEqual([merged.labelledRevision, merged.head], [3, null], "no line's head fits the merged bank: none is kept");
    const opened = await OnlineBank.open(merged, { ...DEFAULT_PATCHCORE_OPTIONS, projectionDim: DIM }, {});
    try {
      assert.equal(opened.snapshot().head?.revision, 3, "fitted when opened");
    } finally {
      await opened.release();
    }
  });

  it("keeps no line's appearance model: each was scaled by its own leave-one-out scores", async function () {
    const appearance = (seed: number): Appearance => ({
      vectors: new Float32Array(5 * DIM).fill(seed),
      count: 5,
      dim: DIM,
      fitted: 5,
      mean: 1,
      deviation: 0.5,
      patchDeviation: 0.2,
    });
    await writeBank(a, 30, 1, 0, record(), [], appearance(1));
    await writeBank(b, 40, 2, 0, record(), [], appearance(2));
    assert.equal(onlineBankFrom(await readModelFile(a), a).appearance?.count, 5, "each line's file holds one");
    const out = join(dir, "merged.ddm");
    await mergeBankFiles([a, b], out, { maxBankSize: 1000 });
    assert.equal(onlineBankFrom(await readModelFile(out), out).appearance, null);
  });

  it("keeps no line's place weights: each measured where its own good parts vary", async function () {
    const places = (low: number): Float32Array => Float32Array.from({ length: 16 }, (_, p) => (p === 0 ? low : 1));
    await writeBank(a, 30, 1, 0, record(), [], null, [], places(0.5));
    await writeBank(b, 40, 2, 0, record(), [], null, [], places(0.25));
    assert.deepEqual(Array.from(onlineBankFrom(await readModelFile(a), a).places ?? []), Array.from(places(0.5)), "each line's file holds its own");
    const out = join(dir, "merged.ddm");
    await mergeBankFiles([a, b], out, { maxBankSize: 1000 });
    assert.equal(onlineBankFrom(await readModelFile(out), out).places, null);
  });

  it("keeps every row when the union fits under the cap", async function () {
    const out = join(dir, "merged.ddm");
    const summary = await mergeBankFiles([a, b], out, { maxBankSize: 1000 });
    assert.equal(summary.bankSize, 70);
    const { bank } = await loadMemoryBank(out);
    for (let r = 0; r < 30; r++) assert.ok(hasRow(bank.data, 70, rowsA.subarray(r * DIM, (r + 1) * DIM)));
    for (let r = 0; r < 40; r++) assert.ok(hasRow(bank.data, 70, rowsB.subarray(r * DIM, (r + 1) * DIM)));
  });

  it("refuses banks of another backbone and layers, naming what differs, and writes nothing", async function () {
    const c = join(dir, "C.ddm");
    await writeBank(c, 20, 3, 0, record({ backbone: { name: "other.onnx", size: 2000, sha256: "cd".repeat(32), input: "input" }, layers: ["l2"] }));
    const out = join(dir, "merged.ddm");
    await assert.rejects(mergeBankFiles([a, c], out, { maxBankSize: 50 }), (error: unknown) => {
      assert.ok(error instanceof DefectError);
      assert.equal(error.code, "modelMismatch");
      assert.equal(
        error.message,
        "Cannot merge banks learned differently (backbone: A.ddm has line1.onnx (1000 bytes, sha256 abababababab), C.ddm has other.onnx (2000 bytes, sha256 cdcdcdcdcdcd); " +
          "layers: A.ddm has l1,l2, C.ddm has l2): merge only banks of the same backbone, layers and preprocessing",
      );
      assert.equal(error.details["fields"], "backbone, layers");
      return true;
    });
    await assert.rejects(stat(out), /ENOENT/);
  });

  it("refuses other preprocessing", async function () {
    const c = join(dir, "C.ddm");
    await writeBank(c, 20, 3, 0, record({ input: { dims: [1, 3, 128, 128], layout: "NCHW" } }));
    await assert.rejects(
      mergeBankFiles([a, c], join(dir, "m.ddm"), { maxBankSize: 50 }),
      /input tensor: A.ddm has \{"dims":\[1,3,64,64\],"layout":"NCHW"\}, C.ddm has \{"dims":\[1,3,128,128\],"layout":"NCHW"\}/,
    );
  });

  it("refuses banks learned with the other per-image standardisation; a file without the record counts as off", async function () {
    // `a` was written without the field, as files saved before it existed.
    assert.equal("standardize" in (await readModelFile(a)).metadata, false);
    const off = join(dir, "off.ddm");
    const on = join(dir, "on.ddm");
    await writeBank(off, 20, 3, 0, record({ standardize: false }));
    await writeBank(on, 20, 4, 0, record({ standardize: true }));
    assert.equal((await mergeBankFiles([a, off], join(dir, "m1.ddm"), { maxBankSize: 1000 })).bankSize, 50);
    await assert.rejects(mergeBankFiles([a, on], join(dir, "m2.ddm"), { maxBankSize: 50 }), (error: unknown) => {
      assert.ok(error instanceof DefectError);
      assert.equal(error.code, "modelMismatch");
      assert.match(error.message, /^Cannot merge banks learned differently \(standardize: A\.ddm has off, on\.ddm has on\)/);
      assert.equal(error.details["fields"], "standardize");
      return true;
    });
    await assert.rejects(stat(join(dir, "m2.ddm")), /ENOENT/);
  });

  it("refuses banks learned with the other exposure handling; a file without the record counts as as captured", async function () {
    const captured = join(dir, "captured.ddm");
    const even = join(dir, "even.ddm");
    await writeBank(captured, 20, 3, 0, record({ evenExposure: false }));
    await writeBank(even, 20, 4, 0, record({ evenExposure: true }));
    assert.equal((await mergeBankFiles([a, captured], join(dir, "m3.ddm"), { maxBankSize: 1000 })).bankSize, 50);
    await assert.rejects(mergeBankFiles([a, even], join(dir, "m4.ddm"), { maxBankSize: 50 }), (error: unknown) => {
      assert.ok(error instanceof DefectError);
      assert.equal(error.code, "modelMismatch");
      assert.match(error.message, /^Cannot merge banks learned differently \(exposure: A\.ddm has as-captured, even\.ddm has even\)/);
      return true;
    });
  });

  it("refuses banks learned with another patch neighbourhood; a file without the record was learned with 3 x 3", async function () {
    const three = join(dir, "three.ddm");
    const one = join(dir, "one.ddm");
    await writeBank(three, 20, 3, 0, record({ neighbourhood: [3, 3] }));
    await writeBank(one, 20, 4, 0, record({ neighbourhood: [1, 3] }));
    assert.equal((await mergeBankFiles([a, three], join(dir, "m5.ddm"), { maxBankSize: 1000 })).bankSize, 50);
    await assert.rejects(mergeBankFiles([a, one], join(dir, "m6.ddm"), { maxBankSize: 50 }), (error: unknown) => {
      assert.ok(error instanceof DefectError);
      assert.equal(error.code, "modelMismatch");
      assert.match(error.message, /^Cannot merge banks learned differently \(neighbourhood: A\.ddm has 3 x 3, 3 x 3, one\.ddm has 1 x 1, 3 x 3\)/);
      return true;
    });
    await assert.rejects(stat(join(dir, "m6.ddm")), /ENOENT/);
  });

  describe("defect-detection bank", function () {
    it("info says when a bank was learned on per-image standardised features", async function () {
      const file = join(dir, "std.ddm");
      await writeBank(file, 20, 3, 0, record({ standardize: true, setting: "fewshot" }));
      const shown = io();
      assert.equal(await runCli(["bank", "info", file], shown.io), 0);
      const lines = shown.out().split("\n");
      assert.ok(lines.includes("features             standardised per image"), shown.out());
      assert.ok(lines.includes("method               patchcore (fewshot)"), shown.out());
    });

    it("info says whether each image's exposure was evened out; a file without the record was learned as captured", async function () {
      const file = join(dir, "even-info.ddm");
      await writeBank(file, 20, 3, 0, record({ evenExposure: true }));
      for (const [path, expected] of [
        [file, "exposure             evened out per image"],
        [a, "exposure             as captured"],
      ] as const) {
        const shown = io();
        assert.equal(await runCli(["bank", "info", path], shown.io), 0);
        assert.ok(shown.out().split("\n").includes(expected), shown.out());
      }
    });

    it("info says which neighbourhood each patch was averaged over; a file without the record was learned with 3 x 3", async function () {
      const file = join(dir, "one-info.ddm");
      await writeBank(file, 20, 3, 0, record({ neighbourhood: [1, 3] }));
      for (const [path, expected] of [
        [file, "neighbourhood        l1 1 x 1, l2 3 x 3"],
        [a, "neighbourhood        l1 3 x 3, l2 3 x 3"],
      ] as const) {
        const shown = io();
        assert.equal(await runCli(["bank", "info", path], shown.io), 0);
        assert.ok(shown.out().split("\n").includes(expected), shown.out());
      }
    });

    it("info says how many learned images the model keeps for the threshold's good scores, and a merge keeps none", async function () {
      const file = join(dir, "kept.ddm");
      const tensor = compactTensor({ data: Float32Array.from([0, 1, 2, 3]), dims: [1, 1, 2, 2], layout: "NCHW" });
      const kept = [1, 2, 3].map((score) => ({ tensor, score, grid: new Float32Array(4) }));
      await writeBank(file, 20, 3, 0, record(), [], null, kept);
      const out = join(dir, "merged-kept.ddm");
      assert.equal(await runCli(["bank", "merge", "--out", out, file, a], io().io), 0);
      for (const [path, expected] of [
        [file, "kept images          3 learned images and their leave-one-out scores, scored again after a confirmed defect"],
        [out, "kept images          none"],
      ] as const) {
        const shown = io();
        assert.equal(await runCli(["bank", "info", path], shown.io), 0);
        assert.ok(shown.out().split("\n").includes(expected), shown.out());
      }
    });

    it("info says whether the model keeps the parts' appearance and calibrates by look-alikes, and a merge keeps neither", async function () {
      const file = join(dir, "looks.ddm");
      const vectors = Float32Array.from({ length: 5 * DIM }, (_, v) => v % 7);
      const lookalikes = fitLookalikes([1, 2, 3, 4, 5], 3)!;
      await writeBank(file, 20, 3, 0, record(), [], { vectors, count: 5, dim: DIM, fitted: 5, mean: 1, deviation: 0.5, patchDeviation: 0.25, lookalikes });
      const out = join(dir, "merged-looks.ddm");
      assert.equal(await runCli(["bank", "merge", "--out", out, file, a], io().io), 0);
      for (const [path, expected] of [
        [file, "appearance           5 mean feature vectors (5 from the fit); scores calibrated by 3 look-alikes (strength 1.25)"],
        [out, "appearance           none"],
      ] as const) {
        const shown = io();
        assert.equal(await runCli(["bank", "info", path], shown.io), 0);
        assert.ok(shown.out().split("\n").includes(expected), shown.out());
      }
    });

    it("info says whether distances are weighted by place, and a merge keeps no weights", async function () {
      const file = join(dir, "places.ddm");
      await writeBank(
        file,
        20,
        3,
        0,
        record(),
        [],
        null,
        [],
        Float32Array.from({ length: 16 }, (_, p) => (p < 2 ? 0.5 : 1)),
      );
      const out = join(dir, "merged-places.ddm");
      assert.equal(await runCli(["bank", "merge", "--out", out, file, a], io().io), 0);
      for (const [path, expected] of [
        [file, "place weights        16 places: distances count less where the learned good parts vary most"],
        [out, "place weights        none"],
      ] as const) {
        const shown = io();
        assert.equal(await runCli(["bank", "info", path], shown.io), 0);
        assert.ok(shown.out().split("\n").includes(expected), shown.out());
      }
    });

    it("merge writes the merged bank and info describes it", async function () {
      const out = join(dir, "merged.ddm");
      const merge = io();
      assert.equal(await runCli(["bank", "merge", "--out", out, "--max-bank", "50", a, b], merge.io), 0);
      assert.equal(merge.out().split("\n")[0], `Merged 2 banks (70 rows of 8 values) into 50 rows (cap 50), 5 defect rows: ${out}`);
      const info = io();
      assert.equal(await runCli(["bank", "info", out], info.io), 0);
      const lines = info.out().split("\n");
      assert.ok(lines.includes("bank                 50 rows x 8 values"), info.out());
      assert.ok(lines.includes("layers               l1,l2"), info.out());
      assert.ok(lines.includes("features             raw"), info.out());
      const updated = onlineBankFrom(await readModelFile(out), out).counters.updated;
      assert.ok(lines.includes(`learned on the line  3 good, 5 defects; version 1, last update ${String(updated)}`), info.out());
    });

    it("fails with the mismatch and usage errors on one line", async function () {
      const c = join(dir, "C.ddm");
      await writeBank(c, 20, 3, 0, record({ layers: ["l2"] }));
      const refused = io();
      assert.equal(await runCli(["bank", "merge", "--out", join(dir, "m.ddm"), a, c], refused.io), 1);
      assert.equal(
        refused.err(),
        "defect-detection bank: Cannot merge banks learned differently (layers: A.ddm has l1,l2, C.ddm has l2): merge only banks of the same backbone, layers and preprocessing\n",
      );
      const usage = io();
      assert.equal(await runCli(["bank", "merge", "--out", join(dir, "m.ddm"), a], usage.io), 2);
      assert.equal(usage.err(), 'defect-detection bank: merge needs at least two bank files, got 1 (see "defect-detection bank --help")\n');
    });
  });
});
