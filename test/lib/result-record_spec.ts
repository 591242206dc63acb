/**
 * msg.result's reader and writers (src/lib/message/result.ts) on hand-made messages: which
 * message property each field comes from, what a bad part, job or recipe id is answered with,
 * how mask-to-region completes a record, and what the alarm reads back.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import { completeResult, readResultLabels, readResultRef, resultModel, writeResult, type ResultFacts, type ResultRecord } from "../../src/lib/message";
import type { Region } from "../../src/lib/regions/types";

const CREATED = new Date(Date.UTC(2026, 2, 4, 5, 6, 7, 890));
const PATCHCORE = { score: 0.42, method: "patchcore", model: { bankSize: 409, trainedOn: 4, created: "2026-03-01T10:00:00.000Z", version: 3 }, partId: "S-1" };

function facts(overrides: Partial<ResultFacts> = {}): ResultFacts {
  return {
    id: 7,
    station: "thr1",
    created: CREATED,
    verdict: "NG",
    score: 0.42,
    calibration: { mode: "sigma", created: "2026-03-02T11:00:00.000Z", threshold: 0.3, lowThreshold: null },
    detection: PATCHCORE,
    labels: { partId: "S-1", jobId: null, recipe: null },
    ...overrides,
  };
}

function refused(fn: () => unknown): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, "invalidOption");
    return error;
  }
  assert.fail("expected invalidOption");
}

describe("result record (msg.result)", function () {
  it("is written whole: ids, labels, UTC creation time, verdict, score, stage times, model, calibration, regions not yet known", function () {
    const msg: Record<string, unknown> = { timings: { sourceMs: 1.5, preprocessMs: 2, backboneMs: 30, detectorMs: 40, thresholdMs: 0.25 }, result: "old" };
    const record = writeResult(msg, facts());
    assert.equal(msg["result"], record, "an incoming msg.result is replaced");
    assert.deepEqual(record, {
      id: 7,
      station: "thr1",
      partId: "S-1",
      jobId: null,
      recipe: null,
      created: "2026-03-04T05:06:07.890Z",
      verdict: "NG",
      score: 0.42,
      times: { sourceMs: 1.5, preprocessMs: 2, detectorMs: 40, thresholdMs: 0.25, regionsMs: null },
      model: { method: "patchcore", created: "2026-03-01T10:00:00.000Z", version: 3, file: null },
      calibration: { mode: "sigma", created: "2026-03-02T11:00:00.000Z", threshold: 0.3, lowThreshold: null },
      regions: null,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(record)), record, "plain JSON: it survives a wire, a file, a database row");
  });

  it("has null times for stages the message does not report (no image source, no timings at all)", function () {
    const times = writeResult({ timings: { detectorMs: "slow", thresholdMs: 1 } }, facts()).times;
    assert.deepEqual(times, { sourceMs: null, preprocessMs: null, detectorMs: null, thresholdMs: 1, regionsMs: null });
    assert.deepEqual(Object.values(writeResult({}, facts()).times), [null, null, null, null, null]);
  });

  it("describes the model of each detector kind, never taking an anomalib export's contract for a model version", function () {
    assert.deepEqual(resultModel(PATCHCORE), { method: "patchcore", created: "2026-03-01T10:00:00.000Z", version: 3, file: null });
    assert.deepEqual(resultModel({ score: 0.6, method: "anomalib", model: { file: "model.onnx", version: "v2", threshold: 0.5 } }), {
      method: "anomalib",
      created: null,
      version: null,
      file: "model.onnx",
    });
    assert.deepEqual(resultModel({ score: 0.9, method: "onnx", task: "detect", model: { file: "yolo.onnx", task: "detect", classes: 3 } }), {
      method: "onnx",
      created: null,
      version: null,
      file: "yolo.onnx",
    });
    assert.deepEqual(resultModel({ score: 0.1, method: "padim", model: { positions: 64, features: 100, trainedOn: 5, created: "2026-01-01T00:00:00.000Z" } }), {
      method: "padim",
      created: "2026-01-01T00:00:00.000Z",
      version: null,
      file: null,
    });
    assert.deepEqual(resultModel(0.7), { method: null, created: null, version: null, file: null }, "a bare score names no model");
  });

  it("takes the part id the detector handed over, else msg.partId; numbers become text; absent ids are null", function () {
    assert.deepEqual(readResultLabels({ partId: "other" }, { score: 1, partId: "serial-7" }), { partId: "serial-7", jobId: null, recipe: null });
    assert.deepEqual(readResultLabels({ partId: 1234, jobId: 56, recipe: "housing-B" }, 0.3), { partId: "1234", jobId: "56", recipe: "housing-B" });
    assert.deepEqual(readResultLabels({ partId: "", jobId: null }, { score: 1 }), { partId: null, jobId: null, recipe: null });
  });

  it("refuses a part, job or recipe id that is neither text nor a number, naming the property and the value", function () {
    const error = refused(() => readResultLabels({ partId: { serial: 7 } }, 0.3));
    assert.equal(error.message, 'msg.partId must be a string or a number, got {"serial":7}');
    assert.deepEqual(error.details, { option: "msg.partId", value: '{"serial":7}' });
    assert.equal(refused(() => readResultLabels({ jobId: true }, 0.3)).details["option"], "msg.jobId");
    assert.equal(refused(() => readResultLabels({ recipe: ["a"] }, 0.3)).details["option"], "msg.recipe");
    assert.equal(refused(() => readResultLabels({ partId: Number.NaN }, 0.3)).details["value"], "null");
  });

  it("is completed by mask-to-region with a copy of its regions and its time", function () {
    const regions: Region[] = [{ x: 1, y: 2, width: 3, height: 4, area: 9, centroid: { x: 2.5, y: 4 }, maxScore: 0.9, meanScore: 0.6 }];
    const msg: Record<string, unknown> = { timings: { thresholdMs: 1 } };
    const record = writeResult(msg, facts());
    msg["timings"] = { thresholdMs: 1, regionsMs: 3.5 };
    completeResult(msg, regions);
    assert.deepEqual(record.regions, regions);
    assert.deepEqual(record.times, { sourceMs: null, preprocessMs: null, detectorMs: null, thresholdMs: 1, regionsMs: 3.5 });
    regions[0]!.centroid.x = 99;
    assert.equal((record.regions as Region[])[0]!.centroid.x, 2.5, "a later change to msg.regions does not rewrite the record");
  });

  it("leaves a message without a record as it was", function () {
    const msg: Record<string, unknown> = { payload: { verdict: "OK" } };
    completeResult(msg, []);
    assert.equal("result" in msg, false);
  });

  it("reads back the result id and part id for the alarm; anything else reads as none", function () {
    const record: ResultRecord = writeResult({}, facts({ id: 70001 }));
    assert.deepEqual(readResultRef({ result: record }), { id: 70001, partId: "S-1" });
    assert.deepEqual(readResultRef({}), { id: null, partId: null });
    assert.deepEqual(readResultRef({ result: { id: 0, partId: "" } }), { id: null, partId: null });
    assert.deepEqual(readResultRef({ result: { id: 1.5 } }), { id: null, partId: null });
  });
});
