import assert from "node:assert/strict";
import path from "node:path";
import { DefectError, type ErrorCode } from "../../src/lib/errors";
import {
  type AnomalibModel,
  type OpenAnomalibOptions,
  normalizeValue,
  openAnomalibModel,
  parseAnomalibMetadata,
  parsePythonJson,
  parseV0Transform,
} from "../../src/lib/anomaly/anomalib";
import { openSessionCount } from "../../src/lib/onnx/session";
import {
  AUTO_SCORE_NAME,
  type TempExport,
  V0_METADATA,
  V1_METADATA,
  buildRawMapModel,
  buildRawScoreModel,
  buildV2Model,
  constantTensor,
  rampTensor,
  writeAnomalibExport,
} from "../fixtures/anomalib-models";
import { buildAddOneModel, buildClassifierModel } from "../fixtures/models";

const SIZE = 4;
/** rampTensor(4) through the 2.x fixture: map(p) = p/16. */
const V2_RAMP_MAP = Array.from({ length: 16 }, (_, p) => p / 16);
/** map(p) = p/16 > 0.5 (strict): pixel 8, exactly 0.5, stays normal. */
const V2_RAMP_MASK = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1];
/**
 * Raw map 0.625p normalised with pixel_threshold 5 over a range of 8 (V1 anomaly_maps 2..10,
 * V0 shared 1..9): (0.625p - 5) / 8 + 0.5, clamped.
 */
const RAW_RAMP_MAP_RANGE_8 = [0, 0, 0.03125, 0.109375, 0.1875, 0.265625, 0.34375, 0.421875, 0.5, 0.578125, 0.65625, 0.734375, 0.8125, 0.890625, 0.96875, 1];
/** Raw map 0.625p >= 5 (inclusive, as 1.x does): pixel 8 is anomalous. */
const RAW_RAMP_MASK = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
const RAW_RAMP_MAP = Array.from({ length: 16 }, (_, p) => 0.625 * p);

async function expectDefect(promise: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<DefectError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DefectError, `expected DefectError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

function expectDefectSync(run: () => unknown, code: ErrorCode, message: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof DefectError && error.code === code && message.test(error.message));
}

describe("anomalib exports", () => {
  const exports: TempExport[] = [];
  const models: AnomalibModel[] = [];
  let baseline = 0;

  beforeEach(() => {
    baseline = openSessionCount();
  });

  afterEach(async () => {
    await Promise.all(models.splice(0).map((m) => m.release()));
    await Promise.all(exports.splice(0).map((e) => e.cleanup()));
    assert.equal(openSessionCount(), baseline, "every session opened by the test is released");
  });

  async function exported(bytes: Uint8Array, metadata?: unknown, metadataName?: string): Promise<TempExport> {
    const e = await writeAnomalibExport(bytes, metadata, metadataName);
    exports.push(e);
    return e;
  }

  async function open(modelPath: string, options?: OpenAnomalibOptions): Promise<AnomalibModel> {
    const model = await openAnomalibModel(modelPath, options);
    models.push(model);
    return model;
  }

  describe("2.x (post-processing inside the graph)", () => {
    it("reads pred_score [1], pred_label, anomaly_map and pred_mask as they are", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat" }));
      const model = await open(e.modelPath);
      assert.equal(model.version, "v2");
      assert.equal(model.inputName, "input");
      assert.deepEqual(model.inputSize, { width: SIZE, height: SIZE });
      assert.equal(model.metadata, null);
      assert.deepEqual(model.preprocess, {
        color: "rgb",
        layout: "NCHW",
        width: SIZE,
        height: SIZE,
        scale: 1,
        mean: [0, 0, 0],
        std: [1, 1, 1],
        centerCropFrom: null,
      });

      const p = await model.predict(rampTensor(SIZE));
      assert.equal(p.score, 0.9375);
      assert.equal(p.rawScore, null);
      assert.equal(p.label, true);
      assert.deepEqual(p.map, { data: Float32Array.from(V2_RAMP_MAP), width: SIZE, height: SIZE });
      assert.equal(p.rawMap, null);
      assert.deepEqual(p.mask, Uint8Array.from(V2_RAMP_MASK));
    });

    it("reads a [1,1] pred_score (PaDiM/EfficientAD) and keeps 2.x's strict > 0.5 label", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "column" }));
      const model = await open(e.modelPath);
      const p = await model.predict(constantTensor(SIZE, 0.5));
      assert.equal(p.score, 0.5);
      assert.equal(p.label, false);
      assert.deepEqual(p.mask, new Uint8Array(16));
      const q = await model.predict(constantTensor(SIZE, 0.625));
      assert.equal(q.score, 0.625);
      assert.equal(q.label, true);
      assert.deepEqual(q.mask, new Uint8Array(16).fill(1));
    });

    it("derives score and mask from the map when the export leaves them out, strictly above 0.5", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat", omit: ["pred_score", "pred_mask"] }));
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      assert.equal(p.score, 0.9375);
      assert.equal(p.label, true);
      assert.deepEqual(p.mask, Uint8Array.from(V2_RAMP_MASK));
    });

    it("derives the label as score > 0.5 when pred_label is left out", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat", omit: ["pred_score", "pred_label"] }));
      const model = await open(e.modelPath);
      assert.equal((await model.predict(constantTensor(SIZE, 0.5))).label, false);
      assert.equal((await model.predict(constantTensor(SIZE, 0.53125))).label, true);
    });

    it("rejects an export made without the PostProcessor, whose values are raw", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat", omit: ["pred_label", "pred_mask"] }));
      await expectDefect(
        openAnomalibModel(e.modelPath),
        "modelLoadFailed",
        /pred_score and anomaly_map but neither pred_label nor pred_mask.*post_processor=False/,
      );
      assert.equal(openSessionCount(), baseline);
    });

    it("ignores metadataPath and says so", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat" }), V1_METADATA);
      const model = await open(e.modelPath, { metadataPath: e.metadataPath ?? "" });
      assert.equal(model.version, "v2");
      assert.equal(model.warnings.length, 1);
      assert.match(model.warnings[0] ?? "", /is ignored: anomalib 2\.x exports hold their thresholds in the graph/);
    });
  });

  describe("1.x (raw outputs + metadata.json)", () => {
    it("normalises PatchCore's score output with image_threshold and pred_scores.min/max, the map with pixel_threshold and anomaly_maps.min/max", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), V1_METADATA);
      const model = await open(e.modelPath);
      assert.equal(model.version, "v1");
      assert.equal(model.metadata?.path, e.metadataPath);
      assert.deepEqual(model.inputSize, { width: SIZE, height: SIZE });
      assert.deepEqual(model.preprocess.mean, [0, 0, 0]);
      assert.deepEqual(model.warnings, []);

      const p = await model.predict(rampTensor(SIZE));
      // Score output = 0.75 * max(0.625 p) = 7.03125: (7.03125 - 6) / (16 - 0) + 0.5.
      assert.equal(p.rawScore, 7.03125);
      assert.equal(p.score, 0.564453125);
      assert.equal(p.label, true);
      assert.deepEqual(p.rawMap, { data: Float32Array.from(RAW_RAMP_MAP), width: SIZE, height: SIZE });
      assert.deepEqual(p.map, { data: Float32Array.from(RAW_RAMP_MAP_RANGE_8), width: SIZE, height: SIZE });
      assert.deepEqual(p.mask, Uint8Array.from(RAW_RAMP_MASK));
    });

    it("takes the map's maximum as the score when the graph has no score output (PaDiM)", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: false }), V1_METADATA);
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      // max(0.625 p) = 9.375: (9.375 - 6) / 16 + 0.5.
      assert.equal(p.rawScore, 9.375);
      assert.equal(p.score, 0.7109375);
    });

    it("uses output 0 as the map when more maps follow (EfficientAD's map_st)", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: false, extraMap: true }), V1_METADATA);
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      assert.deepEqual(Array.from(p.rawMap?.data ?? []), RAW_RAMP_MAP);
    });

    it("labels a raw score equal to image_threshold anomalous (>=), at exactly 0.5", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), { ...V1_METADATA, image_threshold: 7.03125 });
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      assert.equal(p.score, 0.5);
      assert.equal(p.label, true);
    });

    it("clamps scores outside the calibrated range to 0 and 1", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), V1_METADATA);
      const model = await open(e.modelPath);
      const low = await model.predict(constantTensor(SIZE, 0));
      assert.equal(low.rawScore, 0);
      assert.equal(low.score, 0.125);
      const high = await model.predict(constantTensor(SIZE, 3));
      // 0.75 * 30 = 22.5: (22.5 - 6) / 16 + 0.5 = 1.53125, clamped.
      assert.equal(high.rawScore, 22.5);
      assert.equal(high.score, 1);
      assert.deepEqual(high.map?.data, new Float32Array(16).fill(1));
    });

    it("reads a classification export whose output 0 is the score", async () => {
      const e = await exported(buildRawScoreModel(SIZE), { ...V1_METADATA, task: "classification" });
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      assert.deepEqual({ ...p }, { score: 0.7109375, rawScore: 9.375, label: true, map: null, rawMap: null, mask: null });
    });

    it("leaves the map unnormalised (map null, rawMap kept) when the file has no anomaly_maps statistics", async () => {
      const { ["anomaly_maps.min"]: _min, ["anomaly_maps.max"]: _max, ...noMapStats } = V1_METADATA;
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), noMapStats);
      const p = await (await open(e.modelPath)).predict(rampTensor(SIZE));
      assert.equal(p.map, null);
      assert.deepEqual(Array.from(p.rawMap?.data ?? []), RAW_RAMP_MAP);
      assert.deepEqual(p.mask, Uint8Array.from(RAW_RAMP_MASK));
      assert.equal(p.score, 0.564453125);
    });

    it("accepts any input size when exported without input_size", async () => {
      const e = await exported(buildRawMapModel({ size: null, withScore: false }), V1_METADATA);
      const model = await open(e.modelPath);
      assert.equal(model.inputSize, null);
      assert.equal(model.preprocess.width, null);
      const p = await model.predict(rampTensor(2));
      // Means 0, 0.25, 0.5, 0.75 -> raw 0, 2.5, 5, 7.5 -> (raw - 5) / 8 + 0.5, the first clamped from -0.125.
      assert.deepEqual(p.map, { data: Float32Array.from([0, 0.1875, 0.5, 0.8125]), width: 2, height: 2 });
      assert.deepEqual(p.mask, Uint8Array.from([0, 0, 1, 1]));
    });

    it("reads metadata from metadataPath when given", async () => {
      const meta = await exported(buildAddOneModel(), V1_METADATA);
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }));
      const model = await open(e.modelPath, { metadataPath: meta.metadataPath ?? "" });
      assert.equal(model.version, "v1");
      assert.equal((await model.predict(rampTensor(SIZE))).score, 0.564453125);
    });

    it("fails with anomalibMetadataMissing naming the expected file, and frees the session", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }));
      const expected = path.join(e.dir, "metadata.json");
      const error = await expectDefect(openAnomalibModel(e.modelPath), "anomalibMetadataMissing", /anomalib metadata file not found: .*metadata\.json/);
      assert.ok(error.message.includes(expected), error.message);
      assert.equal(error.details["path"], expected);
      assert.equal(openSessionCount(), baseline);
    });

    it("fails with anomalibMetadataMissing for a metadataPath that does not exist", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }));
      const missing = path.join(e.dir, "elsewhere.json");
      const error = await expectDefect(
        openAnomalibModel(e.modelPath, { metadataPath: missing }),
        "anomalibMetadataMissing",
        /the metadataPath given does not exist/,
      );
      assert.equal(error.details["path"], missing);
    });

    const invalidCases: Array<[string, unknown, RegExp, string]> = [
      ["a non-numeric threshold", { ...V1_METADATA, image_threshold: "abc" }, /"image_threshold" must be a finite number \(got "abc"\)/, "image_threshold"],
      [
        "a NaN threshold (Python's json.dump)",
        JSON.stringify(V1_METADATA).replace('"image_threshold":6', '"image_threshold":NaN'),
        /"image_threshold" must be a finite number \(got NaN, Infinity or null\)/,
        "image_threshold",
      ],
      ["a missing pred_scores.max", { ...V1_METADATA, "pred_scores.max": undefined }, /"pred_scores\.max" is missing/, "pred_scores.max"],
      [
        "max not above min",
        { ...V1_METADATA, "pred_scores.max": 0 },
        /"pred_scores\.max" \(0\) must be greater than "pred_scores\.min" \(0\)/,
        "pred_scores.max",
      ],
      [
        "no normalisation statistics",
        { task: "segmentation", image_threshold: 6, pixel_threshold: 5 },
        /no min\/max normalisation statistics .*normalization "none"/,
        "pred_scores.min",
      ],
      [
        "CDF statistics",
        { image_threshold: 1, pixel_threshold: 1, image_mean: 0, image_std: 1, pixel_mean: 0, pixel_std: 1 },
        /CDF normalisation statistics .* are not supported/,
        "image_mean",
      ],
      ["a JSON array", [1, 2], /the file must hold a JSON object \(got \[1,2\]\)/, ""],
    ];
    for (const [what, metadata, message, key] of invalidCases) {
      it(`fails with anomalibMetadataInvalid for ${what}`, async () => {
        const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), metadata);
        const error = await expectDefect(openAnomalibModel(e.modelPath), "anomalibMetadataInvalid", message);
        assert.equal(error.details["key"], key);
        assert.equal(error.details["path"], e.metadataPath);
        assert.equal(openSessionCount(), baseline);
      });
    }

    it("fails with anomalibMetadataInvalid for text that is not JSON", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), "{ image_threshold: 6 ");
      await expectDefect(openAnomalibModel(e.modelPath), "anomalibMetadataInvalid", /metadata\.json is not valid JSON/);
    });

    it("reads NaN in keys it does not need (box_scores.min) as absent", async () => {
      const text = JSON.stringify({ ...V1_METADATA, "box_scores.min": 0 }).replace('"box_scores.min":0', '"box_scores.min":NaN');
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), text);
      assert.equal((await (await open(e.modelPath)).predict(rampTensor(SIZE))).score, 0.564453125);
    });
  });

  describe("0.x (bare network + metadata with the transform)", () => {
    it("normalises score and map with the shared min/max and reports the albumentations preprocessing", async () => {
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: true }), V0_METADATA);
      const model = await open(e.modelPath);
      assert.equal(model.version, "v0");
      assert.deepEqual(model.preprocess, {
        color: "rgb",
        layout: "NCHW",
        width: SIZE,
        height: SIZE,
        scale: 1,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        centerCropFrom: { width: 8, height: 8 },
      });
      assert.deepEqual(model.warnings, []);
      const p = await model.predict(rampTensor(SIZE));
      // (7.03125 - 6) / (9 - 1) + 0.5; map with pixel_threshold 5 over the same range of 8.
      assert.equal(p.score, 0.62890625);
      assert.equal(p.label, true);
      assert.deepEqual(Array.from(p.map?.data ?? []), RAW_RAMP_MAP_RANGE_8);
      assert.deepEqual(p.mask, Uint8Array.from(RAW_RAMP_MASK));
    });

    it("finds the legacy meta_data.json and assumes ImageNet normalisation when no transform is stored", async () => {
      const { transform: _transform, ...noTransform } = V0_METADATA;
      const e = await exported(buildRawMapModel({ size: SIZE, withScore: false }), noTransform, "meta_data.json");
      const model = await open(e.modelPath);
      assert.equal(model.version, "v0");
      assert.deepEqual(model.preprocess.mean, [0.485, 0.456, 0.406]);
      assert.equal(model.preprocess.centerCropFrom, null);
      assert.match(model.warnings[0] ?? "", /stores no transform; assuming ImageNet normalisation/);
      // max(0.625 p) = 9.375: (9.375 - 6) / 8 + 0.5.
      assert.equal((await model.predict(rampTensor(SIZE))).score, 0.921875);
    });
  });

  describe("contract detection", () => {
    it("rejects a model with unrelated outputs, naming what it found and what it expected", async () => {
      const e = await exported(buildClassifierModel(3));
      const error = await expectDefect(
        openAnomalibModel(e.modelPath),
        "modelLoadFailed",
        /is not a usable anomalib export: none of its outputs has an anomalib name/,
      );
      assert.match(error.message, /outputs: probabilities float32\[1,3\]/);
      assert.match(error.message, /expected anomalib 2\.x outputs pred_score, pred_label, anomaly_map, pred_mask, or anomalib 0\.x\/1\.x output "output"/);
      assert.equal(openSessionCount(), baseline);
    });

    it('rejects an "output" that is neither a map nor a score before looking for metadata', async () => {
      const e = await exported(buildAddOneModel());
      await expectDefect(
        openAnomalibModel(e.modelPath),
        "modelLoadFailed",
        /output "output" has shape \[1,3,h,w\], which is neither an anomaly map \[N,1,H,W\] nor a score \[N\]/,
      );
    });

    it("passes the session's inputShapeMismatch through for a tensor of the wrong size", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat" }));
      const model = await open(e.modelPath);
      await expectDefect(model.predict(rampTensor(5)), "inputShapeMismatch", /input "input" expects shape \[batch_size,3,4,4\] \(got \[1,3,5,5\]\)/);
    });

    it("rejects a batch of two, which the symbolic batch axis would let through", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat" }));
      const model = await open(e.modelPath);
      const two = { data: new Float32Array(2 * 3 * SIZE * SIZE), dims: [2, 3, SIZE, SIZE], layout: "NCHW" as const };
      await expectDefect(model.predict(two), "inputShapeMismatch", /expects one NCHW image \[1,3,H,W\] \(got NCHW \[2,3,4,4\]\)/);
    });

    it("frees the session on release, after which predict fails", async () => {
      const e = await exported(buildV2Model({ size: SIZE, scoreShape: "flat" }));
      const model = await openAnomalibModel(e.modelPath);
      assert.equal(openSessionCount(), baseline + 1);
      await model.release();
      await model.release();
      assert.equal(openSessionCount(), baseline);
      await expectDefect(model.predict(rampTensor(SIZE)), "inferenceFailed", /was already released/);
    });
  });

  describe("pieces", () => {
    it("normalises as ((x - threshold) / (max - min)) + 0.5 clamped, NaN kept", () => {
      const stats = { threshold: 3, min: 1, max: 5 };
      assert.equal(normalizeValue(3, stats), 0.5);
      assert.equal(normalizeValue(4, stats), 0.75);
      assert.equal(normalizeValue(2, stats), 0.25);
      assert.equal(normalizeValue(6, stats), 1);
      assert.equal(normalizeValue(0, stats), 0);
      assert.ok(Number.isNaN(normalizeValue(Number.NaN, stats)));
    });

    it("parses Python's NaN and Infinity as null but leaves them alone inside strings", () => {
      assert.deepEqual(parsePythonJson('{"a": NaN, "b": -Infinity, "c": [Infinity], "d": "NaN \\" Infinity"}'), {
        a: null,
        b: null,
        c: [null],
        d: 'NaN " Infinity',
      });
    });

    it("reads one-element lists (torch tolist) as numbers", () => {
      const meta = parseAnomalibMetadata({ ...V1_METADATA, image_threshold: [6], "pred_scores.min": [0] }, "m.json");
      assert.deepEqual(meta.image, { threshold: 6, min: 0, max: 16 });
      assert.deepEqual(meta.pixel, { threshold: 5, min: 2, max: 10 });
      assert.equal(meta.task, "segmentation");
    });

    it("reads a bare Compose with scalar mean/std and names the steps it cannot reproduce", () => {
      const t = parseV0Transform(
        {
          __class_fullname__: "Compose",
          transforms: [
            { __class_fullname__: "Normalize", mean: 0.5, std: 0.25, max_pixel_value: 1 },
            { __class_fullname__: "HorizontalFlip", p: 0.5 },
          ],
        },
        "m.json",
      );
      assert.deepEqual(t, { resize: null, centerCrop: null, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], maxPixelValue: 1, ignored: ["HorizontalFlip"] });
    });

    it("rejects a Resize without integer sizes", () => {
      expectDefectSync(
        () => parseV0Transform({ transforms: [{ __class_fullname__: "Resize", height: 2.5, width: 4 }] }, "m.json"),
        "anomalibMetadataInvalid",
        /transform step 0 \(Resize\) needs positive integer "width" and "height" \(got 4 x 2\.5\)/,
      );
    });
  });
});
