/**
 * The learned images a model keeps for its calibration (kept-calibration.ts): a tensor made from
 * an 8-bit image comes back exactly at one byte a value; any other within half a step of 1/65535
 * of its range at two bytes; shape and layout kept. In the model file (kept-store.ts): read back
 * to the bit, refused with a clear error when the record is of another version or corrupt.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BANK_FILE_KIND } from "../../src/lib/anomaly/patchcore/bank-store";
import { compactTensor, expandTensor, MAX_KEPT_IMAGES, spreadEvenly, type KeptImage } from "../../src/lib/detector/online/kept-calibration";
import { writeKeptRecord } from "../../src/lib/detector/storage/kept-store";
import { freshSnapshot, onlineBankFrom, saveOnlineBank } from "../../src/lib/detector/storage/online-store";
import { readModelFile, writeModelFile, type SectionArray } from "../../src/lib/persist";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { Tensor } from "../../src/lib/image/types";
import { Rng } from "../../src/lib/random";
import { generateGood } from "../../src/offline/synth";
import { encodePng } from "../fixtures/images";

describe("a kept learned image's tensor", function () {
  for (const layout of ["NCHW", "NHWC"] as const) {
    it(`comes back exactly at one byte a value when made from an 8-bit image (${layout})`, async function () {
      const options = parsePreprocessOptions({ preset: "imagenet", width: 48, height: 40, layout });
      const { tensor } = await preprocessImage(await encodePng(generateGood("cast-surface", 3, 64)), options, { maxPixels: 1e8 });
      const compact = compactTensor(tensor);
      assert.equal(compact.kind, "levels");
      assert.equal(compact.codes.byteLength * 4, tensor.data.byteLength);
      assert.deepEqual(expandTensor(compact), tensor);
    });
  }

  it("comes back within half a step of 1/65535 of its range at two bytes a value when it has more levels", function () {
    const rng = new Rng(5);
    const tensor: Tensor = { data: Float32Array.from({ length: 3 * 32 * 32 }, () => -2.1 + 4.7 * rng.next()), dims: [1, 3, 32, 32], layout: "NCHW" };
    const compact = compactTensor(tensor);
    assert.equal(compact.kind, "range");
    assert.equal(compact.codes.byteLength * 2, tensor.data.byteLength);
    const back = expandTensor(compact);
    assert.deepEqual([back.dims, back.layout], [tensor.dims, tensor.layout]);
    const halfStep = (Math.max(...tensor.data) - Math.min(...tensor.data)) / 65535 / 2;
    const worst = tensor.data.reduce((m, v, i) => Math.max(m, Math.abs(v - (back.data[i] as number))), 0);
    assert.ok(worst <= halfStep * 1.01, `${worst} > ${halfStep}`);
  });

  it("keeps a tensor of one value exactly (an unlit image)", function () {
    const tensor: Tensor = { data: new Float32Array(12).fill(-1.5), dims: [1, 2, 2, 3], layout: "NHWC" };
    assert.deepEqual(expandTensor(compactTensor(tensor)), tensor);
  });
});

describe("which learned images are kept", function () {
  it("all of a round of at most 200, else 200 spread evenly over it in learning order", function () {
    const round = Array.from({ length: 1000 }, (_, i) => i);
    assert.equal(MAX_KEPT_IMAGES, 200);
    assert.deepEqual(spreadEvenly(round.slice(0, 200), MAX_KEPT_IMAGES), round.slice(0, 200));
    const kept = spreadEvenly(round, MAX_KEPT_IMAGES);
    assert.deepEqual([kept.length, kept[0], kept[1], kept.at(-1)], [200, 0, 5, 995]);
    assert.deepEqual(spreadEvenly(round.slice(0, 300), 200).slice(0, 4), [0, 1, 3, 4]);
  });
});

describe("kept learned images in the model file", function () {
  let dir = "";
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-kept-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const bank = { data: new Float32Array(8).fill(0.5), size: 2, dim: 4, projection: null };

  it("are saved with the bank and read back to the bit, one- and two-byte tensors alike", async function () {
    const rng = new Rng(8);
    const levels: Tensor = { data: Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => (i % 7) / 7 - 0.5), dims: [1, 5, 3, 2], layout: "NHWC" };
    const range: Tensor = { data: Float32Array.from({ length: 3 * 32 * 32 }, () => rng.next()), dims: [1, 3, 32, 32], layout: "NCHW" };
    const kept: KeptImage[] = [
      { tensor: compactTensor(levels), score: 1.2345678901234567, grid: Float32Array.from([0.1, 0.2, 0.3, 0.4]) },
      { tensor: compactTensor(range), score: 2.5, grid: Float32Array.from([1, 2, 3, 4]) },
    ];
    assert.deepEqual(
      kept.map((k) => k.tensor.kind),
      ["levels", "range"],
    );
    const path = join(dir, "m.ddm");
    await saveOnlineBank(path, freshSnapshot(bank, { appearance: null, kept, places: null }), {});
    const back = onlineBankFrom(await readModelFile(path), path).kept;
    assert.deepEqual(back, kept);
    assert.deepEqual(expandTensor(back[0]!.tensor), levels);
  });

  it("refuse a file whose record has another version, or codes naming levels it does not have", async function () {
    const tensor = compactTensor({ data: Float32Array.from([0, 1, 2, 3]), dims: [1, 1, 2, 2], layout: "NCHW" });
    const path = join(dir, "m.ddm");
    const sections: Record<string, SectionArray> = { bank: bank.data };
    const record = writeKeptRecord([{ tensor, score: 1, grid: new Float32Array(4) }], sections);
    const metadata = { kind: BANK_FILE_KIND, bank: { size: 2, dim: 4, projectionDim: 0 } };
    await writeModelFile(path, { metadata: { ...metadata, online: { kept: { ...record, version: 2 } } }, sections });
    const newer = await readModelFile(path);
    assert.throws(() => onlineBankFrom(newer, path), /kept images record version 2; this version of the package reads 1/);
    const bad = new Int32Array(sections["kept0"]!);
    new Uint8Array(bad.buffer)[0] = 9;
    await writeModelFile(path, { metadata: { ...metadata, online: { kept: record } }, sections: { ...sections, kept0: bad } });
    const corrupt = await readModelFile(path);
    assert.throws(() => onlineBankFrom(corrupt, path), /codes name levels it does not have/);
  });
});
