/**
 * The message contract's readers and writers (src/lib/message): the shapes each accepts, and the
 * error each gives for a shape it refuses, naming the property and what is wrong with it.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import { computeTransform } from "../../src/lib/image/transform";
import type { Tensor, Transform } from "../../src/lib/image/types";
import {
  addTiming,
  describe as describeValue,
  findMessageImage,
  gridFaultText,
  isControlAnswer,
  isRecord,
  readAnomalyMap,
  readCommand,
  readConfirm,
  readMask,
  readPreprocessing,
  readRegions,
  readScore,
  readTensor,
  readTensorTransform,
  readTimings,
  readTransform,
  scoreOf,
  teachesTheLine,
  writeAnomalyMap,
  writeMask,
  writePreprocessed,
  writeRegions,
  type GridFault,
} from "../../src/lib/message";
import { DEFAULT_PREPROCESS_OPTIONS } from "../../src/lib/image/options";

/** Runs `fn`, which must throw a DefectError of `code`; returns it for further checks. */
function refused(fn: () => unknown, code: string): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, `a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a ${code} error`);
}

/** A 100x80 image stretched to 32x32: what the preprocess node writes. */
const TRANSFORM: Transform = computeTransform({ width: 100, height: 80 }, null, { width: 32, height: 32, resize: "stretch" });

function tensorOf(width: number, height: number, layout: "NCHW" | "NHWC" = "NCHW"): Tensor {
  const dims = layout === "NCHW" ? [1, 3, height, width] : [1, height, width, 3];
  return { data: new Float32Array(3 * width * height), dims, layout };
}

describe("message contract (src/lib/message)", function () {
  describe("isRecord and describe", function () {
    it("takes plain objects only: not null, arrays or binary data", function () {
      assert.equal(isRecord({ a: 1 }), true);
      assert.equal(isRecord(Object.create(null)), true);
      for (const value of [null, undefined, 1, "x", [1], Buffer.from("a"), new Float32Array(2), new ArrayBuffer(2)]) {
        assert.equal(isRecord(value), false, describeValue(value));
      }
    });

    it("names what a value is, as error messages show it", function () {
      assert.deepEqual([null, [1], Buffer.alloc(0), Buffer.from("a"), new Float32Array(1), 3, "s", undefined, {}].map(describeValue), [
        "null",
        "array",
        "empty Buffer",
        "Buffer",
        "Float32Array",
        "number",
        "string",
        "undefined",
        "object",
      ]);
    });
  });

  describe("msg.transform", function () {
    it("is undefined when absent and read as written by the preprocess node", function () {
      assert.equal(readTransform({}), undefined);
      assert.equal(readTransform({ transform: null }), undefined);
      assert.deepEqual(readTransform({ transform: TRANSFORM }), TRANSFORM);
      // A JSON round trip keeps it readable.
      assert.deepEqual(readTransform({ transform: JSON.parse(JSON.stringify(TRANSFORM)) as unknown }), TRANSFORM);
    });

    it("refuses what the preprocess node could not have written, saying what is wrong", function () {
      const cases: Array<[unknown, string]> = [
        ["stretch", "got string"],
        [{ ...TRANSFORM, source: undefined }, "source is undefined, not {width, height}"],
        [{ ...TRANSFORM, roi: [0, 0, 1, 1] }, "roi is array, not {x, y, width, height}"],
        [{ ...TRANSFORM, scaleX: Number.NaN }, "scaleX is NaN"],
        [{ ...TRANSFORM, offsetY: "0" }, "offsetY is string"],
        [{ ...TRANSFORM, width: 0 }, "width is 0, not a whole number of at least 1"],
        [{ ...TRANSFORM, source: { width: 100, height: 1.5 } }, "source.height is 1.5, not a whole number of at least 1"],
        [{ ...TRANSFORM, scaleY: -0.4 }, "scales 0.32 and -0.4 must be positive"],
        [{ ...TRANSFORM, roi: { x: 10, y: 0, width: 100, height: 80 } }, "roi 10,0 100x80 is not a region of whole pixels inside the 100x80 source"],
        [{ ...TRANSFORM, roi: { x: 0.5, y: 0, width: 10, height: 10 } }, "roi 0.5,0 10x10 is not a region of whole pixels inside the 100x80 source"],
      ];
      for (const [transform, reason] of cases) {
        const error = refused(() => readTransform({ transform }), "invalidOption");
        assert.equal(error.message, `msg.transform must be the transform the preprocess node writes: ${reason}`);
        assert.deepEqual(error.details, { option: "msg.transform", value: reason });
      }
    });

    it("for the detector, must describe the tensor in msg.payload", function () {
      assert.deepEqual(readTensorTransform({ transform: TRANSFORM }, tensorOf(32, 32)), TRANSFORM);
      assert.deepEqual(readTensorTransform({ transform: TRANSFORM }, tensorOf(32, 32, "NHWC")), TRANSFORM);
      assert.equal(readTensorTransform({}, tensorOf(8, 8)), undefined);
      const error = refused(() => readTensorTransform({ transform: TRANSFORM }, tensorOf(32, 16)), "invalidOption");
      assert.equal(error.message, "msg.transform describes a 32x32 tensor but msg.payload is 32x16");
      assert.equal(error.details["value"], "32x32");
      // The shape is checked before the size.
      refused(() => readTensorTransform({ transform: { ...TRANSFORM, scaleX: 0 } }, tensorOf(32, 32)), "invalidOption");
    });
  });

  describe("msg.anomalyMap and msg.mask", function () {
    it("accept typed arrays, plain arrays and a Buffer that went through JSON; space defaults to original", function () {
      const forms: unknown[] = [new Float32Array([0, 1, 2, 3]), new Float64Array([0, 1, 2, 3]), new Uint8Array([0, 1, 2, 3]), [0, 1, 2, 3]];
      forms.push(JSON.parse(JSON.stringify({ data: Buffer.from([0, 1, 2, 3]) })).data as unknown);
      for (const data of forms) {
        const map = readAnomalyMap({ anomalyMap: { data, width: 2, height: 2 } });
        assert.ok(map?.data instanceof Float32Array);
        assert.deepEqual([...map.data, map.width, map.height, map.space], [0, 1, 2, 3, 2, 2, "original"]);
      }
      const given = new Float32Array(4);
      assert.equal(readAnomalyMap({ anomalyMap: { data: given, width: 4, height: 1, space: "model" } })?.data, given, "a Float32Array is not copied");
      assert.equal(readAnomalyMap({}), undefined);
      assert.equal(readMask({ mask: null }), undefined);
      const mask = readMask({ mask: { data: [0, 1], width: 2, height: 1, space: "model", threshold: 0.5 } });
      assert.deepEqual(mask, { data: [0, 1], width: 2, height: 1, space: "model", threshold: 0.5 });
      assert.equal("threshold" in (readMask({ mask: { data: [0, 1], width: 2, height: 1, threshold: Number.NaN } }) ?? {}), false);
    });

    it("refuse malformed grids with invalidOption, naming the property and the fault", function () {
      const cases: Array<[unknown, string]> = [
        [new Float32Array(4), "must be an object {data, width, height, space}, got Float32Array"],
        [{ data: [0], width: 1.5, height: 1 }, "needs whole-number width and height of at least 1, got 1.5x1"],
        [{ data: [0], width: Number.NaN, height: 1 }, "needs whole-number width and height of at least 1, got NaNx1"],
        [{ data: "0000", width: 2, height: 2 }, "has no data array of numbers (got string)"],
        [{ data: [0, "1", 2, 3], width: 2, height: 2 }, "has no data array of numbers (got array)"],
        [{ data: [0, 1, 2], width: 2, height: 2 }, "data holds 3 values but 2x2 needs 4"],
        [{ data: [0, 1, 2, 3], width: 2, height: 2, space: "tensor" }, 'has space "tensor"; expected "original" or "model"'],
      ];
      for (const [grid, text] of cases) {
        const error = refused(() => readAnomalyMap({ anomalyMap: grid }), "invalidOption");
        assert.equal(error.message, `msg.anomalyMap ${text}`);
        assert.equal(error.details["option"], "msg.anomalyMap");
        assert.equal(refused(() => readMask({ mask: grid }), "invalidOption").message, `msg.mask ${text}`);
      }
    });

    it("let the caller word the error and choose its code", function () {
      const faults: GridFault[] = [];
      const error = new Error("the node's own");
      assert.throws(
        () =>
          readMask({ mask: { data: [1], width: 2, height: 1 } }, (property, fault) => {
            faults.push(fault);
            assert.equal(property, "msg.mask");
            return error;
          }),
        (thrown: unknown) => thrown === error,
      );
      assert.deepEqual(faults, [{ kind: "length", length: 1, width: 2, height: 1 }]);
      assert.equal(gridFaultText(faults[0]!), "data holds 1 values but 2x1 needs 2");
    });

    it("are written, or removed with null so no earlier node's grid travels on", function () {
      const msg: Record<string, unknown> = { anomalyMap: "stale", mask: "stale" };
      const map = { data: new Float32Array(1), width: 1, height: 1, space: "model" as const };
      writeAnomalyMap(msg, map);
      assert.equal(msg["anomalyMap"], map);
      writeAnomalyMap(msg, null);
      writeMask(msg, null);
      assert.deepEqual(msg, {});
      writeMask(msg, { data: new Uint8Array(1), width: 1, height: 1, space: "original", threshold: 0.5 });
      assert.deepEqual(readMask(msg), { data: new Uint8Array(1), width: 1, height: 1, space: "original", threshold: 0.5 });
    });
  });

  describe("msg.payload: score, tensor, control answers", function () {
    it("reads the score from { score } or a bare number, and says what was there instead", function () {
      assert.equal(readScore({ score: 0.25, method: "patchcore" }), 0.25);
      assert.equal(readScore(-3), -3);
      assert.equal(scoreOf({ score: Number.POSITIVE_INFINITY }), undefined);
      assert.equal(scoreOf({ verdict: "OK" }), undefined);
      assert.equal(refused(() => readScore({ score: Number.NaN }), "noScoreInput").details["reason"], "msg.payload.score is NaN");
      assert.equal(refused(() => readScore({ score: "0.3" }), "noScoreInput").details["reason"], "msg.payload.score is string");
      assert.equal(refused(() => readScore(Buffer.from("x")), "noScoreInput").details["reason"], "msg.payload is Buffer");
      assert.equal(refused(() => readScore(null), "noScoreInput").details["reason"], "msg.payload is null");
    });

    it("reads the preprocess node's tensor and refuses others, saying why", function () {
      const tensor = tensorOf(2, 2);
      assert.deepEqual(readTensor(tensor, "msg.payload"), tensor);
      const reasons: Array<[unknown, string]> = [
        [Buffer.from("png"), "got a Buffer (an encoded image?): put a preprocess node before the detector"],
        [[1, 2], "got array"],
        [{ data: new Float64Array(12), dims: [1, 3, 2, 2], layout: "NCHW" }, "data is Float64Array, not a Float32Array"],
        [{ data: new Float32Array(12), dims: [3, 2, 2], layout: "NCHW" }, "dims [3,2,2] are not four positive integers"],
        [{ data: new Float32Array(12), dims: [1, 3, 2, 2], layout: "CHW" }, 'layout "CHW" is not NCHW or NHWC'],
        [{ data: new Float32Array(11), dims: [1, 3, 2, 2], layout: "NCHW" }, "11 values do not fill dims [1,3,2,2]"],
        [
          { data: new Float32Array([0, Number.NaN, 0, 0]), dims: [1, 1, 2, 2], layout: "NCHW" },
          "value 1 is NaN: NaN and infinities are refused before anything is learned or scored",
        ],
      ];
      for (const [value, reason] of reasons) {
        assert.equal(refused(() => readTensor(value, "msg.payload"), "noTensorInput").details["reason"], reason);
      }
    });

    it("recognises the learning, calibration and command answers nodes pass on", function () {
      assert.equal(isControlAnswer({ learning: true, count: 1, total: 4 }), true);
      assert.equal(isControlAnswer({ calibrating: true }), true);
      assert.equal(isControlAnswer({ command: "fit", model: {} }), true);
      // A verdict's answer carries no score: a threshold wired after the detector passes it on.
      assert.equal(isControlAnswer({ confirmed: "defect", partId: null, bank: {}, version: 2 }), true);
      assert.equal(isControlAnswer({ score: 1 }), false);
      assert.equal(isControlAnswer(["learning"]), false);
    });
  });

  describe("operator verdicts (msg.confirm)", function () {
    it("reads a plain verdict, and a defect with boxes or a mask", function () {
      assert.equal(readConfirm({}), undefined);
      assert.deepEqual(readConfirm({ confirm: "good" }), { verdict: "good", region: undefined });
      assert.deepEqual(readConfirm({ confirm: { verdict: "defect" } }), { verdict: "defect", region: undefined });
      // Extra fields of a box (mask to region's area, scores) are left out.
      const boxes = [{ x: 1, y: 2, width: 3, height: 4, area: 12 }];
      assert.deepEqual(readConfirm({ confirm: { verdict: "defect", boxes } }), {
        verdict: "defect",
        region: { kind: "boxes", boxes: [{ x: 1, y: 2, width: 3, height: 4 }] },
      });
      const mask = { data: [0, 1, 0, 0], width: 2, height: 2, space: "model" };
      assert.deepEqual(readConfirm({ confirm: { verdict: "defect", mask } }), {
        verdict: "defect",
        region: { kind: "mask", mask: { data: [0, 1, 0, 0], width: 2, height: 2, space: "model" } },
      });
      // JSON round trips turn a Buffer into { type: "Buffer", data }: still a mask; space defaults to original.
      const jsonMask = readConfirm({ confirm: { verdict: "defect", mask: { data: { type: "Buffer", data: [255, 0] }, width: 2, height: 1 } } });
      assert.deepEqual(jsonMask?.region, { kind: "mask", mask: { data: [255, 0], width: 2, height: 1, space: "original" } });
    });

    it("refuses a region it cannot use, naming the property and why", function () {
      const cases: Array<[unknown, string, string]> = [
        ["maybe", "msg.confirm", 'msg.confirm must be "good" or "defect", got "maybe"'],
        [{ verdict: "bad" }, "msg.confirm.verdict", 'msg.confirm.verdict must be "good" or "defect", got "bad"'],
        [{ verdict: "defect", box: [] }, "msg.confirm", 'msg.confirm has an unknown key "box" (it takes verdict, boxes, mask)'],
        [{ verdict: "defect", boxes: [], mask: {} }, "msg.confirm", "msg.confirm holds boxes and a mask: give one of them"],
        [
          { verdict: "good", boxes: [{ x: 0, y: 0, width: 1, height: 1 }] },
          "msg.confirm.boxes",
          'msg.confirm.boxes says where a defect is: the verdict must be "defect", got "good"',
        ],
        [{ verdict: "defect", boxes: [] }, "msg.confirm.boxes", "msg.confirm.boxes must be a list of at least one {x, y, width, height}, got array"],
        [
          {
            verdict: "defect",
            boxes: [
              { x: 0, y: 0, width: 2, height: 2 },
              { x: 1, y: "2", width: 0, height: 1 },
            ],
          },
          "msg.confirm.boxes[1]",
          "msg.confirm.boxes[1] needs finite x and y and a width and height above 0, got 1, string, 0, 1",
        ],
        [{ verdict: "defect", mask: { data: [0, 0], width: 2, height: 1 } }, "msg.confirm.mask", "msg.confirm.mask has no defect pixel (every value is 0)"],
        [{ verdict: "defect", mask: { data: [1, 0, 0], width: 2, height: 1 } }, "msg.confirm.mask", "msg.confirm.mask data holds 3 values but 2x1 needs 2"],
      ];
      for (const [confirm, option, message] of cases) {
        const error = refused(() => readConfirm({ confirm }), "invalidOption");
        assert.deepEqual([error.details["option"], error.message], [option, message]);
      }
    });
  });

  describe("preprocess output", function () {
    it("writes the tensor, the transform and a copy of the options, which read back", function () {
      const msg: Record<string, unknown> = { payload: Buffer.from("jpeg") };
      const options = { ...DEFAULT_PREPROCESS_OPTIONS, width: 32, height: 32 };
      const tensor = tensorOf(32, 32);
      writePreprocessed(msg, { tensor, transform: TRANSFORM, options });
      assert.equal(msg["payload"], tensor);
      assert.deepEqual(readTensorTransform(msg, tensor), TRANSFORM);
      assert.deepEqual(readPreprocessing(msg), options);
      assert.notEqual(msg["preprocessing"], options, "a copy: the detector keeps it with what it learns");
      assert.equal(readPreprocessing({}), undefined);
      assert.equal(refused(() => readPreprocessing({ preprocessing: "imagenet" }), "invalidOption").details["value"], "string");
    });
  });

  describe("msg.timings, msg.image, msg.regions, msg.command", function () {
    it("adds timings to those of earlier nodes and reads back the finite ones", function () {
      const msg: Record<string, unknown> = { timings: { sourceMs: 3 } };
      addTiming(msg, "preprocessMs", 5);
      assert.deepEqual(msg["timings"], { sourceMs: 3, preprocessMs: 5 });
      const fresh: Record<string, unknown> = { timings: "none" };
      addTiming(fresh, "detectorMs", 1);
      assert.deepEqual(readTimings(fresh), { detectorMs: 1 });
      assert.deepEqual(readTimings({ timings: { a: 1, b: "2", c: Number.NaN } }), { a: 1 });
    });

    it("finds msg.image only with its bytes as a Buffer", function () {
      const buffer = Buffer.from("jpeg");
      assert.equal(findMessageImage({ image: { buffer, width: 2 } })?.buffer, buffer);
      assert.equal(findMessageImage({ image: { buffer: [1, 2] } }), undefined);
      assert.equal(findMessageImage({ image: buffer }), undefined);
    });

    it("writes regions with their count on an object payload, and reads back those with a finite box", function () {
      const region = { x: 1, y: 2, width: 3, height: 4, area: 5, centroid: { x: 2, y: 3 }, maxScore: null, meanScore: null };
      const msg: Record<string, unknown> = { payload: { verdict: "NG" } };
      writeRegions(msg, [region]);
      assert.deepEqual(msg["payload"], { verdict: "NG", regionCount: 1 });
      assert.deepEqual(readRegions(msg), [{ x: 1, y: 2, width: 3, height: 4, area: 5 }]);
      const text: Record<string, unknown> = { payload: "NG" };
      writeRegions(text, []);
      assert.equal(text["payload"], "NG");
      assert.deepEqual(readRegions({ regions: [{ x: 1, y: 2, width: 3 }, null, { x: 0, y: 0, width: 1, height: 1, maxScore: 0.9 }] }), [
        { x: 0, y: 0, width: 1, height: 1, maxScore: 0.9 },
      ]);
    });

    it("reads a node's commands and refuses any other value, empty or null included", function () {
      const commands = ["fit", "reset"] as const;
      assert.equal(readCommand({}, commands), undefined);
      assert.equal(readCommand({ command: "fit" }, commands), "fit");
      for (const command of ["train", "", null, 1]) {
        const error = refused(() => readCommand({ command }, commands), "invalidOption");
        assert.equal(error.message, `msg.command must be one of fit, reset, got ${JSON.stringify(command)}`);
        assert.equal(error.details["option"], "msg.command");
      }
      assert.equal(teachesTheLine({ topic: "learn" }), true);
      assert.equal(teachesTheLine({ confirm: "good" }), true);
      assert.equal(teachesTheLine({ calibrate: false, learn: "yes" }), false);
    });
  });
});
