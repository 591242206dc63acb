/**
 * The threshold core against hand-computed values: statistics, every calibration mode, where a
 * labelled threshold is placed (midpoints, ties), verdicts with band and hysteresis, MVTec label
 * inference, the saved record and its refusals, and every out-of-range option.
 */
import assert from "node:assert/strict";
import { Rng } from "../../src/lib/random";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefectError } from "../../src/lib/errors";
import { readHandedCalibration, readScore } from "../../src/lib/message";
import { calibratedFigures } from "../../src/offline/eval/calibrated";
import {
  bandThresholds,
  calibrationFilePath,
  checkRecordMatches,
  computeCalibration,
  decideVerdict,
  deleteCalibration,
  f1Threshold,
  INITIAL_STREAM,
  labelFromPath,
  labelledReport,
  loadCalibration,
  mean,
  parseCalibrationRecord,
  parseThresholdOptions,
  quantile,
  conformalThreshold,
  minimumGoodScores,
  readScoreMap,
  recallLowerBound,
  recallThreshold,
  sampleLabel,
  sampleStandardDeviation,
  saveCalibration,
  serialiseCalibration,
  sigmaThreshold,
  summarize,
  thresholdMap,
  ThresholdSession,
  type CalibrationRecord,
  type Thresholds,
  type Verdict,
} from "../../src/lib/threshold";

function throwsCode(fn: () => unknown, code: string, message?: string): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, `a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.equal(error.message, message);
    return error;
  }
  assert.fail(`expected a ${code} error`);
}

const CREATED = new Date("2024-01-02T03:04:05.000Z");
const options = (input: Record<string, unknown> = {}) => parseThresholdOptions(input);

/** Verdicts of a score sequence through one stream. */
function replay(scores: number[], thresholds: Thresholds, hysteresis: number): Verdict[] {
  let state = INITIAL_STREAM;
  return scores.map((score) => {
    const result = decideVerdict(score, thresholds, hysteresis, state);
    state = result.state;
    return result.verdict;
  });
}

describe("threshold core", function () {
  describe("statistics", function () {
    it("mean, sample standard deviation and summary", function () {
      assert.equal(mean([2, 4, 6]), 4);
      assert.equal(sampleStandardDeviation([2, 4, 6]), 2);
      assert.deepEqual(summarize([6, 2, 4]), { count: 3, mean: 4, sd: 2, min: 2, max: 6 });
      assert.deepEqual(summarize([5]), { count: 1, mean: 5, sd: null, min: 5, max: 5 });
      throwsCode(() => sampleStandardDeviation([1]), "calibrationFailed", "the standard deviation needs at least 2 scores, got 1");
      throwsCode(() => mean([]), "calibrationFailed", "the mean needs at least 1 score, got 0");
    });

    it("quantiles interpolate linearly between ranks (type 7) on unsorted input", function () {
      const values = [40, 0, 30, 10, 20];
      assert.equal(quantile(values, 0), 0);
      assert.equal(quantile(values, 1), 40);
      assert.equal(quantile(values, 0.5), 20);
      assert.equal(quantile(values, 0.75), 30);
      assert.equal(quantile(values, 0.875), 35);
      assert.equal(quantile(values, 0.1), 4);
      assert.equal(quantile([7], 0.3), 7);
      assert.deepEqual(values, [40, 0, 30, 10, 20], "the input is not sorted in place");
      throwsCode(() => quantile(values, 1.5), "calibrationFailed");
    });
  });

  describe("calibration from good parts", function () {
    it("k-sigma: mean + k sample standard deviations", function () {
      assert.equal(sigmaThreshold([2, 4, 6], 3), 10);
      assert.equal(sigmaThreshold([2, 4, 6], 1.5), 7);
      assert.equal(sigmaThreshold([2, 4, 6], 0), 4);
    });

    it("false-reject rate: the split-conformal order statistic, and what it promises", function () {
      // n = 5 at 25 %: k = ceil(6 * 0.75) = 5, the largest score is the last accepted.
      const five = conformalThreshold([30, 0, 40, 10, 20], 25);
      assert.ok(five.threshold > 40 && five.threshold < 40.000001, String(five.threshold));
      assert.ok(Math.abs(five.promise.frr - 1 / 6) < 1e-12);
      // 12.5 % needs k = 6 > 5: no threshold of 5 scores keeps it, and the error says how many would.
      throwsCode(
        () => conformalThreshold([0, 10, 20, 30, 40], 12.5),
        "calibrationFailed",
        "a false-reject rate of 12.5 % needs at least 7 good scores of parts the model did not learn from, got 5",
      );
      // 200 good scores 1..200 at 1 %: k = ceil(201 * 0.99) = 199, so only 200 is rejected.
      const scores = Array.from({ length: 200 }, (_, i) => i + 1);
      const { threshold, promise } = conformalThreshold(scores, 1);
      assert.equal(scores.filter((s) => s >= threshold).length, 1);
      assert.ok(Math.abs(promise.frr - 2 / 201) < 1e-12 && promise.frr <= 0.01, String(promise.frr));
      assert.ok(promise.frrBound95 > promise.frr && promise.frrBound95 < 0.04, String(promise.frrBound95));
      assert.equal(promise.confidence, 0.95);
    });

    it("needs about 1/rate - 1 good scores, and says so", function () {
      for (const [rate, needed] of [
        [1, 99],
        [5, 19],
        [25, 3],
        [12.5, 7],
        [0.5, 199],
        [50, 1],
      ] as const) {
        assert.equal(minimumGoodScores(rate), needed, `${rate} %`);
        const enough = Array.from({ length: needed }, (_, i) => i);
        assert.ok(conformalThreshold(enough, rate).promise.frr <= rate / 100 + 1e-12, `${needed} scores keep ${rate} %`);
        if (needed > 1) throwsCode(() => conformalThreshold(enough.slice(1), rate), "calibrationFailed");
      }
    });

    it("keeps its promise on good parts it did not see (uniform scores, 2,000 calibrations)", function () {
      // For U(0, 1) scores a threshold t rejects exactly 1 - t of new good parts.
      const rng = new Rng(15);
      const trials = 2000;
      let realisedSum = 0;
      let withinBound = 0;
      let promised = 0;
      for (let t = 0; t < trials; t++) {
        const good = Array.from({ length: 200 }, () => rng.next());
        const { threshold, promise } = conformalThreshold(good, 5);
        const realised = 1 - threshold;
        realisedSum += realised;
        if (realised <= promise.frrBound95) withinBound++;
        promised = promise.frr;
      }
      assert.ok(promised <= 0.05);
      assert.ok(Math.abs(realisedSum / trials - promised) < 0.002, `mean false-reject rate ${realisedSum / trials} vs promised ${promised}`);
      assert.ok(withinBound / trials >= 0.93 && withinBound / trials <= 0.97, `${withinBound} of ${trials} under the 95 % bound`);
    });
  });

  describe("calibration from labelled parts", function () {
    it("F1-optimal: the midpoint of the best gap", function () {
      // Sorted: 1g 2g 3g 3.5d 4g 6d 7d; between 3 and 3.5: TP 3, FP 1, FN 0, F1 = 6/7 (best).
      assert.deepEqual(f1Threshold([1, 2, 3, 4], [3.5, 6, 7]), { threshold: 3.25, f1: 6 / 7, precision: 3 / 4, recall: 1 });
      assert.deepEqual(f1Threshold([2, 1], [6, 5]), { threshold: 3.5, f1: 1, precision: 1, recall: 1 });
    });

    it("F1-optimal with tied scores: ties stay on one side, equal F1 takes the lower threshold", function () {
      // Levels 1 (g), 2 (g, g, d), 3 (d): T = 1.5 gives TP 2, FP 2 (F1 2/3); T = 2.5 gives TP 1, FN 1 (F1 2/3).
      assert.deepEqual(f1Threshold([1, 2, 2], [2, 3]), { threshold: 1.5, f1: 2 / 3, precision: 1 / 2, recall: 1 });
      // One level only: the threshold is the score itself and flags everything.
      assert.deepEqual(f1Threshold([1], [1]), { threshold: 1, f1: 2 / 3, precision: 1 / 2, recall: 1 });
      throwsCode(() => f1Threshold([1, 2], []), "calibrationFailed", "F1 calibration needs good and defect samples, got 2 good and 0 defect");
    });

    it("target recall: the highest threshold that reaches it", function () {
      const good = [1, 2, 3];
      const defect = [2.5, 4, 5, 6];
      assert.deepEqual(recallThreshold(good, defect, 75), { threshold: 3.5, recall: 0.75 });
      assert.deepEqual(recallThreshold(good, defect, 74), { threshold: 3.5, recall: 0.75 });
      assert.deepEqual(recallThreshold(good, defect, 50), { threshold: 4.5, recall: 0.5 });
      assert.deepEqual(recallThreshold(good, defect, 99), { threshold: 2.25, recall: 1 });
      assert.deepEqual(recallThreshold(good, defect, 100), { threshold: 2.25, recall: 1 });
      assert.deepEqual(recallThreshold([], [1, 2], 100), { threshold: 1, recall: 1 }, "no lower neighbour: the score itself");
      assert.deepEqual(recallThreshold([], [1, 2], 50), { threshold: 1.5, recall: 0.5 });
      // 7 % of 100 is 7 defects, although 0.07 * 100 = 7.000000000000001 in floating point.
      const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
      assert.deepEqual(recallThreshold([], hundred, 7), { threshold: 93.5, recall: 0.07 });
      throwsCode(() => recallThreshold([1], [], 90), "calibrationFailed", "recall calibration needs defect samples, got 1 good and 0 defect");
    });
  });

  describe("calibration records", function () {
    it("computes a record with band, sample counts and stats", function () {
      const record = computeCalibration("sigma", options({ mode: "sigma", k: "1", band: "0.25" }), { good: [0, 10, 20, 30, 40], defect: [] }, CREATED);
      assert.deepEqual(record, {
        format: "defect-threshold",
        version: 2,
        mode: "sigma",
        parameters: { k: 1 },
        threshold: 20 + Math.sqrt(250),
        lowThreshold: (20 + Math.sqrt(250)) * 0.75,
        samples: { good: 5, defect: 0 },
        // The band from 26.9 to 35.8 holds the good sample 30: sent to review.
        stats: { falseRejects: 1, missed: 0, review: { good: 1, defect: 0 }, good: { count: 5, mean: 20, sd: Math.sqrt(250), min: 0, max: 40 } },
        created: "2024-01-02T03:04:05.000Z",
      });
      const quantile = computeCalibration("quantile", options({ mode: "quantile", frr: "25" }), { good: [0, 10, 20, 30, 40], defect: [] }, CREATED);
      assert.ok(quantile.threshold > 40 && quantile.stats.falseRejects === 0);
      assert.ok(Math.abs((quantile.promise?.frr ?? 0) - 1 / 6) < 1e-12, "the record states the rate it promises");
      const f1 = computeCalibration("f1", options({ mode: "f1" }), { good: [1, 2, 3, 4], defect: [3.5, 6, 7] }, CREATED);
      assert.equal(f1.threshold, 3.25);
      assert.equal("lowThreshold" in f1, false);
      assert.deepEqual(f1.parameters, {});
      assert.deepEqual([f1.stats.falseRejects, f1.stats.missed, f1.stats.f1], [1, 0, 6 / 7]);
    });

    it("says what is missing when the samples cannot calibrate the mode", function () {
      throwsCode(
        () => computeCalibration("sigma", options({ mode: "sigma" }), { good: [], defect: [] }, CREATED),
        "calibrationFailed",
        "no calibration samples yet: send scores with msg.calibrate = true",
      );
      throwsCode(
        () => computeCalibration("sigma", options({ mode: "sigma" }), { good: [1], defect: [] }, CREATED),
        "calibrationFailed",
        "mode sigma needs at least 2 good samples, got 1 good and 0 defect",
      );
      throwsCode(
        () => computeCalibration("f1", options({ mode: "f1" }), { good: [1, 2], defect: [] }, CREATED),
        "calibrationFailed",
        "mode f1 needs at least 1 defect sample, got 2 good and 0 defect (label samples with msg.label, or name them in an MVTec test/<defect> folder)",
      );
      throwsCode(
        () => computeCalibration("f1", options({ mode: "f1" }), { good: [], defect: [3] }, CREATED),
        "calibrationFailed",
        "mode f1 needs at least 1 good sample, got 0 good and 1 defect",
      );
    });

    const record = (): CalibrationRecord => computeCalibration("sigma", options({ mode: "sigma", k: "3" }), { good: [2, 4, 6], defect: [] }, CREATED);

    it("round-trips through JSON and refuses another version or a damaged file", function () {
      const saved = record();
      assert.deepEqual(parseCalibrationRecord(JSON.parse(serialiseCalibration(saved)), "c.json"), saved);
      throwsCode(
        () => parseCalibrationRecord({ ...saved, version: 3 }, "c.json"),
        "modelFileVersion",
        "c.json has calibration format 3; this package reads formats 1 and 2",
      );
      // Version 1 (before handed-over scores and labelled reports) is read as it is.
      assert.deepEqual(parseCalibrationRecord({ ...saved, version: 1 }, "c.json"), { ...saved, version: 1 });
      throwsCode(() => parseCalibrationRecord({ ...saved, handover: { kind: "leave-one-out", scores: [1, null] } }, "c.json"), "modelFileInvalid");
      throwsCode(() => parseCalibrationRecord({ ...saved, labelled: { recall: 1 } }, "c.json"), "modelFileInvalid");
      throwsCode(
        () => parseCalibrationRecord({ ...saved, format: "other" }, "c.json"),
        "modelFileInvalid",
        "c.json is not a usable calibration file: it is not a defect-threshold file",
      );
      throwsCode(
        () => parseCalibrationRecord({ ...saved, threshold: "10" }, "c.json"),
        "modelFileInvalid",
        'c.json is not a usable calibration file: field "threshold" is missing or malformed',
      );
      throwsCode(() => parseCalibrationRecord({ ...saved, mode: "fixed" }, "c.json"), "modelFileInvalid");
      throwsCode(() => parseCalibrationRecord([saved], "c.json"), "modelFileInvalid");
    });

    it("is only used for the mode and parameters it was made with", function () {
      const saved = record();
      checkRecordMatches(saved, "sigma", { k: 3 }, "c.json");
      throwsCode(
        () => checkRecordMatches(saved, "sigma", { k: 2 }, "c.json"),
        "modelMismatch",
        "c.json was calibrated with mode sigma (k 3); the node now uses mode sigma (k 2)",
      );
      throwsCode(
        () => checkRecordMatches(saved, "f1", {}, "c.json"),
        "modelMismatch",
        "c.json was calibrated with mode sigma (k 3); the node now uses mode f1",
      );
    });

    it("is saved atomically, loaded, and deleted under the user directory", async function () {
      const dir = await mkdtemp(join(tmpdir(), "threshold-store-"));
      try {
        assert.equal(calibrationFilePath("/u", "ab.cd"), join("/u", "defect-detection", "ab.cd.threshold.json"));
        assert.equal(calibrationFilePath("/u", "../x"), join("/u", "defect-detection", "__x.threshold.json"));
        const path = calibrationFilePath(dir, "n1");
        assert.equal(await loadCalibration(path), undefined, "nothing saved yet");
        await saveCalibration(path, record());
        const json = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
        assert.deepEqual([json["format"], json["version"], json["threshold"]], ["defect-threshold", 2, 10]);
        assert.deepEqual(await loadCalibration(path), record());
        await writeFile(path, "{ not json");
        await assert.rejects(loadCalibration(path), (error: unknown) => error instanceof DefectError && error.code === "modelFileInvalid");
        assert.equal(await deleteCalibration(path), true);
        assert.equal(await deleteCalibration(path), false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe("verdicts", function () {
    it("places the band below the threshold, also for negative scores", function () {
      const fraction = (band: number) => ({ band, bandFrom: "fraction" as const, recall: 99 });
      assert.deepEqual(bandThresholds(8, fraction(0.25)), { threshold: 8, lowThreshold: 6 });
      assert.deepEqual(bandThresholds(-4, fraction(0.5)), { threshold: -4, lowThreshold: -6 });
      assert.deepEqual(bandThresholds(8, fraction(0)), { threshold: 8 });
      // From labelled defects: T1 below the lowest defect that Recall % must include, halfway to the next lower.
      const defects = { band: 0, bandFrom: "defects" as const, recall: 75 };
      assert.deepEqual(bandThresholds(8, defects, [3, 5, 7, 9]), { threshold: 8, lowThreshold: 4 }, "3 of 4 from 4 on");
      assert.deepEqual(bandThresholds(8, { ...defects, recall: 25 }, [3, 5, 7, 9]), { threshold: 8 }, "T2 already catches 1 of 4");
      assert.deepEqual(bandThresholds(8, defects, []), { threshold: 8 }, "no defects, no band");
    });

    it("OK below the band, UNCERTAIN in it, NG at and above the threshold", function () {
      assert.deepEqual(replay([5, 6, 7.9, 8, 9, 2], { threshold: 8, lowThreshold: 6 }, 0), ["OK", "UNCERTAIN", "UNCERTAIN", "NG", "NG", "OK"]);
      assert.deepEqual(replay([7.9, 8], { threshold: 8 }, 0), ["OK", "NG"]);
    });

    it("hysteresis holds NG until the score falls below threshold (1 - h)", function () {
      // Release level 8 * (1 - 0.25) = 6.
      assert.deepEqual(replay([5, 8, 7, 6, 5.9, 7, 8], { threshold: 8 }, 0.25), ["OK", "NG", "NG", "NG", "OK", "OK", "NG"]);
      // With a band: held NG down to 4, then judged afresh (7.5 is in the band).
      assert.deepEqual(replay([9, 5, 4, 3.9, 7.5], { threshold: 8, lowThreshold: 7 }, 0.5), ["NG", "NG", "NG", "OK", "UNCERTAIN"]);
      assert.deepEqual(replay([8, 7.9], { threshold: 8 }, 0), ["NG", "OK"], "h = 0 is off");
    });

    it("masks a map at or above the pixel threshold", function () {
      assert.deepEqual([...thresholdMap(new Float32Array([0.1, 0.5, 0.9, 0.49]), 0.5)], [0, 1, 1, 0]);
    });
  });

  describe("labels", function () {
    it("infers labels from MVTec paths", function () {
      assert.equal(labelFromPath("/data/mvtec/bottle/test/broken_large/000.png"), "defect");
      assert.equal(labelFromPath("/data/mvtec/bottle/test/good/000.png"), "good");
      assert.equal(labelFromPath("/data/mvtec/bottle/train/good/000.png"), "good");
      assert.equal(labelFromPath("C:\\mvtec\\bottle\\test\\contamination\\001.png"), "defect");
      assert.equal(labelFromPath("/data/mvtec/bottle/ground_truth/broken_large/000_mask.png"), undefined);
      assert.equal(labelFromPath("/images/part-1.png"), undefined);
      assert.equal(labelFromPath("part.png"), undefined);
    });

    it("prefers msg.label, then the path, then good", function () {
      assert.equal(sampleLabel(undefined, "/m/bottle/test/crack/0.png"), "defect");
      assert.equal(sampleLabel("good", "/m/bottle/test/crack/0.png"), "good");
      assert.equal(sampleLabel("defect", undefined), "defect");
      assert.equal(sampleLabel(undefined, undefined), "good");
      throwsCode(() => sampleLabel("bad", undefined), "invalidOption", 'msg.label must be "good" or "defect", got bad');
    });
  });

  describe("message input", function () {
    it("reads the score from the detector's payload or a number", function () {
      assert.equal(readScore({ score: 0.7, method: "patchcore" }), 0.7);
      assert.equal(readScore(3), 3);
      throwsCode(() => readScore("0.7"), "noScoreInput", "no score on the message: msg.payload is string; expected a number or { score } from the detector");
      throwsCode(() => readScore({ score: NaN }), "noScoreInput");
      throwsCode(
        () => readScore({}),
        "noScoreInput",
        "no score on the message: msg.payload.score is undefined; expected a number or { score } from the detector",
      );
    });

    it("reads an anomaly map and refuses a malformed one", function () {
      assert.equal(readScoreMap({}), undefined);
      const map = readScoreMap({ anomalyMap: { data: [0, 1, 2, 3], width: 2, height: 2 } });
      assert.deepEqual(map && { ...map, data: [...map.data] }, { data: [0, 1, 2, 3], width: 2, height: 2, space: "original" });
      throwsCode(
        () => readScoreMap({ anomalyMap: { data: new Float32Array(3), width: 2, height: 2, space: "model" } }),
        "invalidOption",
        "msg.anomalyMap is not a score map: 3 values do not fill 2x2",
      );
      throwsCode(() => readScoreMap({ anomalyMap: { data: new Float32Array(4), width: 2, height: 2, space: "tensor" } }), "invalidOption");
    });
  });

  describe("options", function () {
    it("has defaults that work without calibration", function () {
      assert.deepEqual(options(), {
        mode: "fixed",
        threshold: 0.5,
        lowThreshold: undefined,
        k: 3,
        frr: 1,
        recall: 99,
        band: 0,
        bandFrom: "fraction",
        hysteresis: 0,
        pixelThreshold: undefined,
        calibrationCount: 200,
        labelProperty: "label",
      });
    });

    for (const [what, input, message] of [
      ["an unknown mode", { mode: "median" }, 'Option mode must be one of fixed, sigma, quantile, f1, recall, got "median"'],
      ["k < 0", { mode: "sigma", k: "-1" }, 'Option k must be a number of at least 0, got "-1"'],
      ["frr of 0", { mode: "quantile", frr: "0" }, 'Option frr must be a percentage above 0 and below 100, got "0"'],
      ["frr of 100", { mode: "quantile", frr: "100" }, 'Option frr must be a percentage above 0 and below 100, got "100"'],
      ["a text frr", { mode: "quantile", frr: "half" }, 'Option frr must be a percentage above 0 and below 100, got "half"'],
      ["recall of 0", { mode: "recall", recall: "0" }, 'Option recall must be a percentage above 0 and at most 100, got "0"'],
      ["recall above 100", { mode: "recall", recall: "101" }, 'Option recall must be a percentage above 0 and at most 100, got "101"'],
      [
        "a label property with a space",
        { mode: "f1", labelProperty: "part label" },
        'Option labelProperty must be a message property such as label or part.label, got "part label"',
      ],
      ["a band of 1", { mode: "sigma", band: "1" }, 'Option band must be a fraction from 0 up to (not including) 1, got "1"'],
      ["a negative band", { mode: "f1", band: "-0.1" }, 'Option band must be a fraction from 0 up to (not including) 1, got "-0.1"'],
      ["hysteresis of 1", { hysteresis: "1" }, 'Option hysteresis must be a fraction from 0 up to (not including) 1, got "1"'],
      ["a low threshold at the threshold", { threshold: "0.5", lowThreshold: "0.5" }, 'Option lowThreshold must be below the threshold 0.5, got "0.5"'],
      ["a text threshold", { threshold: "high" }, 'Option threshold must be a number, got "high"'],
      ["a text pixel threshold", { pixelThreshold: "x" }, 'Option pixelThreshold must be a number, got "x"'],
      ["calibrationCount of 0", { mode: "sigma", calibrationCount: "0" }, 'Option calibrationCount must be an integer from 1 to 100000, got "0"'],
      ["a fractional calibrationCount", { mode: "sigma", calibrationCount: "2.5" }, 'Option calibrationCount must be an integer from 1 to 100000, got "2.5"'],
    ] as const) {
      it(`refuses ${what}`, function () {
        const error = throwsCode(() => options(input), "invalidOption", message);
        assert.equal(error.details["option"], /Option (\w+)/.exec(message)?.[1]);
      });
    }

    it("checks only the options the mode uses", function () {
      assert.equal(options({ mode: "fixed", k: "-1", frr: "200", band: "5" }).mode, "fixed");
      assert.equal(options({ mode: "sigma", threshold: "high" }).mode, "sigma");
    });
  });

  describe("session", function () {
    it("fixed mode decides at once and takes no samples", function () {
      const session = new ThresholdSession(options({ threshold: "0.6", lowThreshold: "0.4" }));
      assert.deepEqual(session.inspect(0.5), { verdict: "UNCERTAIN", score: 0.5, threshold: 0.6, lowThreshold: 0.4, mode: "fixed" });
      assert.deepEqual(session.state, { kind: "ready", mode: "fixed", thresholds: { threshold: 0.6, lowThreshold: 0.4 } });
      throwsCode(
        () => session.addSample(0.1, "good", CREATED),
        "calibrationFailed",
        "mode fixed uses the configured threshold and takes no calibration samples: choose a calibrated mode",
      );
    });

    it("collects samples, calibrates at the count, then decides", function () {
      const session = new ThresholdSession(options({ mode: "sigma", calibrationCount: "3", band: "0.5" }));
      assert.deepEqual(session.state, { kind: "uncalibrated" });
      throwsCode(() => session.inspect(1), "notCalibrated", "mode sigma has no calibration yet: send good samples with msg.calibrate = true");
      assert.deepEqual(session.addSample(2, "good", CREATED), { calibrating: true, count: 1, total: 3, label: "good" });
      assert.deepEqual(session.state, { kind: "calibrating", count: 1, total: 3 });
      session.addSample(4, "good", CREATED);
      const last = session.addSample(6, "good", CREATED);
      assert.equal(last.calibration?.threshold, 10);
      assert.equal(last.calibration?.lowThreshold, 5);
      assert.deepEqual(session.state, { kind: "ready", mode: "sigma", thresholds: { threshold: 10, lowThreshold: 5 } });
      assert.deepEqual(session.inspect(7), { verdict: "UNCERTAIN", score: 7, threshold: 10, lowThreshold: 5, mode: "sigma" });
      session.reset();
      assert.deepEqual(session.state, { kind: "uncalibrated" });
    });

    it("keeps the samples when the calibration at the count fails, and tries again", function () {
      const session = new ThresholdSession(options({ mode: "f1", calibrationCount: "2" }));
      session.addSample(1, "good", CREATED);
      throwsCode(() => session.addSample(2, "good", CREATED), "calibrationFailed");
      assert.equal(session.sampleCount, 2);
      const answer = session.addSample(4, "defect", CREATED);
      assert.equal(answer.calibration?.threshold, 3);
      assert.equal(session.sampleCount, 0, "a new round starts");
    });

    it("names a refused saved calibration when asked to decide", function () {
      const session = new ThresholdSession(options({ mode: "f1" }));
      session.refuseSaved("it has format 2");
      throwsCode(
        () => session.inspect(1),
        "notCalibrated",
        "mode f1 has no calibration yet (the saved calibration was not used: it has format 2): send labelled good and defect samples with msg.calibrate = true",
      );
    });
  });
});

describe("calibration from the detector's handed-over scores", function () {
  /** 200 good scores 1..200 (shuffled: the order must not matter) and a handful of labelled defects. */
  const good = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) + 1);
  const handed = { kind: "leave-one-out" as const, scores: good };

  it("reads msg.payload.calibration, and refuses NaN, null and unknown kinds", function () {
    assert.equal(readHandedCalibration({ learning: true, count: 3 }), undefined);
    assert.deepEqual(readHandedCalibration({ learning: true, calibration: { kind: "held-back", scores: [1, 2.5] } }), { kind: "held-back", scores: [1, 2.5] });
    throwsCode(
      () => readHandedCalibration({ calibration: { kind: "leave-one-out", scores: [1, NaN, 3] } }),
      "invalidOption",
      "msg.payload.calibration is not a set of good scores: scores[1] is NaN, not a finite number",
    );
    // NaN goes through JSON as null.
    throwsCode(
      () => readHandedCalibration(JSON.parse(JSON.stringify({ calibration: { kind: "leave-one-out", scores: [1, NaN] } }))),
      "invalidOption",
      "msg.payload.calibration is not a set of good scores: scores[1] is null, not a finite number",
    );
    throwsCode(() => readHandedCalibration({ calibration: { kind: "guess", scores: [1] } }), "invalidOption");
    throwsCode(() => readHandedCalibration({ calibration: [1, 2] }), "invalidOption");
  });

  it("calibrates the false-reject rate from them at once, and keeps them for the next calibration", function () {
    const session = new ThresholdSession(options({ mode: "quantile" }));
    assert.equal(session.takesHandover, true);
    const record = session.handover(handed, CREATED);
    // n = 200 at 1 %: k = ceil(201 * 0.99) = 199: 199 is the last accepted score, 200 is rejected.
    assert.ok(record.threshold > 199 && record.threshold < 199.0001, String(record.threshold));
    assert.deepEqual(record.samples, { good: 200, defect: 0 });
    assert.ok(Math.abs((record.promise?.frr ?? 0) - 2 / 201) < 1e-12, "it promises 2/201 <= 1 %");
    assert.equal(record.promise?.confidence, 0.95);
    assert.deepEqual(record.handover, handed);
    assert.equal(record.labelled, undefined, "no defects: nothing to expect of them");
    assert.equal(session.inspect(200).verdict, "NG");
    assert.equal(session.inspect(199).verdict, "OK");
    // A few labelled defects, then the calibrate command: the handed scores are the good samples again.
    for (const score of [150, 195, 199.5, 250, 300]) session.addSample(score, "defect", CREATED);
    const withDefects = session.calibrate(CREATED);
    assert.equal(withDefects.threshold, record.threshold);
    assert.deepEqual(withDefects.samples, { good: 200, defect: 5 });
    assert.deepEqual(withDefects.defectScores, [150, 195, 199.5, 250, 300]);
    assert.deepEqual(withDefects.handover, handed);
    // 3 of 5 defects at or above 199.00..: recall 0.6. Recall 99 % needs all 5: T1 = 150 (the lowest defect).
    const labelled = withDefects.labelled;
    assert.equal(labelled?.recall, 0.6);
    assert.ok(labelled !== undefined && labelled.recallLow95 > 0.18 && labelled.recallLow95 < 0.2, String(labelled?.recallLow95));
    // 150 <= s < T2: good 150..199 (50) and defects 150, 195 (2) of 205 samples go to review.
    assert.deepEqual(labelled?.band, { lowThreshold: 150, recall: 1, review: 52 / 205, reviewGood: 50, reviewDefect: 2 });
    // The default band is a fraction (0 = none); from labelled defects it is T1.
    assert.deepEqual(session.thresholds(), { threshold: record.threshold });
    const reviewing = new ThresholdSession(options({ mode: "quantile", bandFrom: "defects", recall: "99" }));
    reviewing.restore(withDefects);
    assert.deepEqual(reviewing.thresholds(), { threshold: record.threshold, lowThreshold: 150 });
    assert.equal(reviewing.inspect(160).verdict, "UNCERTAIN");
    // Restored, the handed scores are still the good base of the next calibration.
    reviewing.addSample(400, "defect", CREATED);
    const again = reviewing.calibrate(CREATED);
    assert.deepEqual([again.samples.good, again.samples.defect, again.threshold], [200, 1, record.threshold]);
  });

  it("a new fit's scores replace the old ones and drop samples scored by the old model", function () {
    // 50 %: of 3 scores the 2nd smallest is the last accepted.
    const session = new ThresholdSession(options({ mode: "quantile", frr: "50" }));
    session.handover({ kind: "leave-one-out", scores: [1, 2, 3] }, CREATED);
    session.addSample(50, "good", CREATED);
    const record = session.handover({ kind: "leave-one-out", scores: [10, 20, 30] }, CREATED);
    assert.ok(record.threshold > 20 && record.threshold < 20.0001, String(record.threshold));
    assert.deepEqual(record.samples, { good: 3, defect: 0 });
    session.reset();
    throwsCode(() => session.inspect(1), "notCalibrated");
  });

  it("says how many scores the rate needs, keeps too few, and adds later good samples to them", function () {
    const session = new ThresholdSession(options({ mode: "quantile", frr: "5", calibrationCount: "10" }));
    throwsCode(
      () => session.handover({ kind: "leave-one-out", scores: good.slice(0, 12) }, CREATED),
      "calibrationFailed",
      "a false-reject rate of 5 % needs at least 19 good scores of parts the model did not learn from, got 12",
    );
    throwsCode(() => session.inspect(1), "notCalibrated");
    for (let i = 0; i < 9; i++) session.addSample(300 + i, "good", CREATED);
    const answer = session.addSample(309, "good", CREATED);
    assert.deepEqual(answer.calibration?.samples, { good: 22, defect: 0 });
  });

  it("only the false-reject-rate mode calibrates from them", function () {
    for (const mode of ["sigma", "f1", "recall"]) {
      const session = new ThresholdSession(options({ mode }));
      assert.equal(session.takesHandover, false, mode);
      throwsCode(
        () => session.handover(handed, CREATED),
        "calibrationFailed",
        `mode ${mode} calibrates from the samples it is sent, not from a detector's scores`,
      );
    }
  });

  it("the review band's report on hand-made scores, and the recall's lower bound", function () {
    assert.equal(labelledReport([1, 2], [], 3, 99), undefined);
    // Every defect caught: no band to suggest.
    assert.deepEqual(labelledReport([1, 2, 3], [5, 6], 4, 99), { recall: 1, recallLow95: recallLowerBound(2, 2), band: null });
    // P(Bin(5, p) >= 5) = p^5 = 0.05 at the bound.
    assert.ok(Math.abs(recallLowerBound(5, 5) - 0.05 ** (1 / 5)) < 1e-9);
    assert.equal(recallLowerBound(0, 5), 0);
  });
});

describe("eval's calibrated figures on hand-made score lists", function () {
  const handed = { kind: "leave-one-out" as const, scores: Array.from({ length: 99 }, (_, i) => i + 1) };

  it("judges the test scores at the threshold the handed scores set", function () {
    // n = 99 at 1 %: k = 99, the largest (99) is the last accepted: NG from just above 99.
    const scores = [10, 99, 99.5, 150, 50, 120, 98, 200];
    const labels = [0, 0, 0, 0, 1, 1, 1, 1];
    const figures = calibratedFigures(scores, labels, handed);
    assert.equal(figures.calibrated_frr, 2 / 4, "99.5 and 150 of the good parts are rejected");
    assert.equal(figures.calibrated_recall, 2 / 4, "120 and 200 of the defective parts are caught");
    assert.ok(Math.abs((figures.promised_frr ?? 0) - 1 / 100) < 1e-12);
    assert.ok(figures.calibrated_threshold !== null && figures.calibrated_threshold > 99 && figures.calibrated_threshold < 99.0001);
    assert.deepEqual([figures.calibration, figures.calibration_images, figures.calibration_error], ["leave-one-out", 99, null]);
    // At 5 % (k = 95): NG from above 95, so 98 and 99 count too.
    const five = calibratedFigures(scores, labels, handed, 5);
    assert.deepEqual([five.calibrated_frr, five.calibrated_recall], [3 / 4, 3 / 4]);
  });

  it("has no figures without handed scores, or with too few for the rate", function () {
    const none = calibratedFigures([1, 2], [0, 1], undefined);
    assert.deepEqual([none.calibrated_recall, none.calibrated_frr, none.promised_frr, none.calibration], [null, null, null, null]);
    const few = calibratedFigures([1, 2], [0, 1], { kind: "leave-one-out", scores: [1, 2, 3, 4] });
    assert.equal(few.calibrated_frr, null);
    assert.equal(few.calibration_error, "a false-reject rate of 1 % needs at least 99 good scores of parts the model did not learn from, got 4");
  });
});
