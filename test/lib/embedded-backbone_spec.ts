/**
 * The embedded backbone (version 2): the shipped weights file is found, complete and the one
 * recorded in code; the graph built from it has the documented outputs at strides 4/8/16; and a
 * bank learned with version 1 is refused, since its features mean something else.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { openBackboneContext } from "../../src/lib/detector/methods/backbone-context";
import { checkLearnedWith, type LearnedRecord } from "../../src/lib/detector/storage/learned-record";
import { openOnnxBackbone } from "../../src/lib/features/backbone";
import {
  buildEmbeddedBackbone,
  EMBEDDED_BACKBONE,
  EMBEDDED_LAYER_SHAPES,
  EMBEDDED_LAYERS,
  EMBEDDED_VERSION,
  embeddedWeightCount,
} from "../../src/lib/features/embedded";
import {
  decodeEmbeddedWeights,
  EMBEDDED_WEIGHTS_BYTES,
  EMBEDDED_WEIGHTS_SHA256,
  findEmbeddedWeights,
  halfToFloat,
  readEmbeddedWeights,
} from "../../src/lib/features/embedded-weights";
import { DefectError } from "../../src/lib/errors";

/** What version 1 (seeded random filters, built in code) was identified by in saved banks. */
const V1_IDENTITY = { name: EMBEDDED_BACKBONE, size: 748387, sha256: "fd8913f868b79acc728fdba121a715c07f0eb050b7dde3d928e978dd3537ffb3" };
const BYTES_PER_WEIGHT = 2;

function isCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof DefectError && error.code === code;
}

describe("embedded backbone v2", () => {
  it("ships the weights file recorded in code", async () => {
    const path = findEmbeddedWeights();
    assert.match(path, /models[\\/]embedded-v2\.bin$/);
    const bytes = await readFile(path);
    assert.equal(bytes.length, EMBEDDED_WEIGHTS_BYTES);
    assert.equal(EMBEDDED_WEIGHTS_BYTES, embeddedWeightCount() * BYTES_PER_WEIGHT);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), EMBEDDED_WEIGHTS_SHA256);
    const weights = await readEmbeddedWeights(path);
    assert.equal(weights.length, embeddedWeightCount());
    assert.ok(weights.every((w) => Number.isFinite(w)));
  });

  it("refuses a damaged weights file", async () => {
    const bytes = new Uint8Array(await readFile(findEmbeddedWeights()));
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    assert.throws(() => decodeEmbeddedWeights(bytes, "models/embedded-v2.bin"), isCode("modelLoadFailed"));
    assert.throws(() => decodeEmbeddedWeights(bytes.subarray(2), "x.bin"), /expected \d+ bytes/);
  });

  it("decodes float16 exactly", () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x7bff), 65504);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(halfToFloat(0x3555), 0.333251953125);
    assert.equal(halfToFloat(0xfc00), -Infinity);
  });

  it("outputs stage1-3 at strides 4, 8 and 16 with 32, 64 and 128 channels", async () => {
    const backbone = await openOnnxBackbone({ model: EMBEDDED_BACKBONE, layers: [...EMBEDDED_LAYERS] });
    try {
      assert.equal(backbone.identity.name, `embedded-v${EMBEDDED_VERSION}`);
      const height = 64;
      const width = 96;
      const data = Float32Array.from({ length: 3 * height * width }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13);
      const maps = await backbone.extract({ data, dims: [1, 3, height, width], layout: "NCHW" });
      const shapes = maps.map((m) => [m.name, m.channels, m.height, m.width]);
      assert.deepEqual(shapes, [
        ["stage1", 32, 16, 24],
        ["stage2", 64, 8, 12],
        ["stage3", 128, 4, 6],
      ]);
      for (const m of maps) {
        const shape = EMBEDDED_LAYER_SHAPES[m.name as keyof typeof EMBEDDED_LAYER_SHAPES];
        assert.equal(m.channels, shape.channels);
        assert.equal(m.height * shape.stride, height);
        // ReLU outputs: finite, non-negative, and not all zero (a wrong weight order gives nonsense, not silence).
        assert.ok(m.data.every((v) => Number.isFinite(v) && v >= 0));
        assert.ok(m.data.some((v) => v > 0));
      }
    } finally {
      await backbone.release();
    }
  });

  it("builds the same bytes every time", async () => {
    const a = await buildEmbeddedBackbone();
    const b = await buildEmbeddedBackbone();
    assert.equal(createHash("sha256").update(a).digest("hex"), createHash("sha256").update(b).digest("hex"));
  });

  it("refuses a bank learned with the version 1 backbone", async () => {
    const context = await openBackboneContext({ setting: "unsupervised", backbone: EMBEDDED_BACKBONE, layers: ["stage2", "stage3"], session: {} }, "patchcore");
    try {
      const now = context.learnedWith;
      assert.notEqual(now.backbone.sha256, V1_IDENTITY.sha256);
      const saved: LearnedRecord = {
        ...now,
        backbone: { ...now.backbone, ...V1_IDENTITY },
        created: "2026-11-25T00:00:00.000Z",
        trainedOn: 1,
        input: { dims: [1, 3, 256, 256], layout: "NCHW" },
        preprocessing: null,
        options: {},
      };
      assert.throws(
        () => checkLearnedWith(saved, now, "bank.json"),
        (error: unknown) => {
          assert.ok(isCode("modelMismatch")(error));
          assert.match((error as DefectError).message, /backbone: saved embedded \(748387 bytes, sha256 fd8913f8/);
          return true;
        },
      );
    } finally {
      await context.release();
    }
  });
});
