/**
 * defect-threshold in Node-RED: fixed verdicts and masks, calibration by messages with status
 * progress, the saved calibration across redeploys and its refusals, errors through Catch (each
 * followed by a message that works), commands and the admin endpoint. Status and error texts go
 * through the node's real en-US catalog, so tests see what users see.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeAPI, NodeMessage } from "node-red";
import type { SinonSpy } from "sinon";
import thresholdNode from "../../src/nodes/threshold";
import { registerAdminEndpoint } from "../../src/nodes/threshold-admin";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import {
  catalogKeys,
  catchAll,
  caughtError,
  collectMessages,
  editorDefaultKeys,
  editorI18nKeys,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";
import { catalogTranslator, withCatalog, statusText } from "../fixtures/catalog";

const TYPE = "defect-threshold";
const ID = "thr";

const translate = catalogTranslator("threshold");

const node = withCatalog(thresholdNode, translate);

const status = statusText(TYPE, translate);

/** "NG since 14:03:27": the verdict, translated, and the host's clock time when it began. */
function assertVerdictStatus(text: string | undefined, state: string): void {
  const verdict = translate(`${TYPE}.status.${state}`);
  assert.match(text ?? "", new RegExp(`^${verdict} since \\d\\d:\\d\\d:\\d\\d$`));
}

interface SampleAnswer {
  calibrating: boolean;
  count: number;
  total: number;
  label: string;
  calibration?: {
    threshold: number;
    lowThreshold?: number;
    mode: string;
    samples: { good: number; defect: number };
    promise?: { frr: number; frrBound95: number; confidence?: number };
    handover?: { kind: string; scores: number[] };
    labelled?: { recall: number; recallLow95: number; band: { lowThreshold: number; recall: number; review: number } | null };
  };
}

describe("defect-threshold node", function () {
  this.timeout(20_000);
  const userDir = useNodeRedHelper();
  const calibrationFile = (): string => join(userDir(), "defect-detection", `${ID}.threshold.json`);

  async function load(config: Partial<ThresholdNodeDef> = {}): Promise<void> {
    const thr: FlowItem<ThresholdNodeDef> = { id: ID, type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([thr, { id: "out", type: "helper" }, ...catchAll()]));
  }

  const thr = () => getNode(ID);

  async function send(msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"));
    thr().receive(msg);
    return out;
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<NodeMessage> {
    const caught = nextMessage(getNode("caught"));
    thr().receive({ _msgid: `m-${code}`, ...msg });
    const result = await caught;
    assert.equal(caughtError(result).code, code, caughtError(result).message);
    if (message !== undefined) assert.equal(caughtError(result).message, `Error: ${message}`);
    assert.equal(result._msgid, `m-${code}`, "the failed message itself reaches Catch");
    return result;
  }

  /** Sends calibration samples; resolves with their answers in order. */
  async function calibrate(samples: NodeMessage[]): Promise<SampleAnswer[]> {
    const outs = collectMessages(getNode("out"), samples.length);
    for (const sample of samples) thr().receive({ calibrate: true, ...sample });
    return (await outs).map((m) => m.payload as SampleAnswer);
  }

  const good = (...scores: number[]): NodeMessage[] => scores.map((score) => ({ payload: { score, method: "patchcore" } }));

  function warnings(): string[] {
    const spy = thr().warn as unknown as SinonSpy<[unknown], void>;
    return spy
      .getCalls()
      .filter((call) => call.thisValue === thr())
      .map((call) => String(call.args[0]));
  }

  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  describe("fixed threshold", function () {
    it("passes the detector's learning and command answers on untouched, and consumes its own commands", async function () {
      await load({ mode: "sigma", calibrationCount: "3" });
      const learning = { learning: true, count: 2, total: 20 };
      const passed = await send({ payload: learning, learn: true });
      assert.deepEqual(passed.payload, learning);
      assert.equal(passed["detection"], undefined);
      assert.deepEqual((await send({ payload: { command: "reset", deleted: false } })).payload, { command: "reset", deleted: false });
      const own = await send({ command: "reset" });
      assert.deepEqual(own.payload, { command: "reset", deleted: false });
      assert.equal(own["command"], undefined, "the nodes after must not run it again");
    });

    it("decides from the detector's score, keeps its payload as msg.detection and masks the map", async function () {
      await load();
      await waitForStatus(thr(), status("ready", { mode: "fixed", threshold: "0.5" }));
      assert.equal(status("ready", { mode: "fixed", threshold: "0.5" }), "ready (fixed 0.5)");
      const detection = { score: 0.7, method: "anomalib", model: { file: "model.onnx" } };
      const map = { data: new Float32Array([0.1, 0.6, 0.5, 0.2, 0.9, 0]), width: 3, height: 2, space: "model" };
      const out = await send({ payload: detection, anomalyMap: map, topic: "part-1", timings: { detectorMs: 40 } });
      assert.deepEqual(out.payload, { verdict: "NG", score: 0.7, threshold: 0.5, mode: "fixed" });
      const timings = out["timings"] as Record<string, number>;
      assert.equal(timings["detectorMs"], 40, "earlier stages' timings kept");
      assert.ok(typeof timings["thresholdMs"] === "number" && timings["thresholdMs"] >= 0, "its own in msg.timings.thresholdMs");
      assert.deepEqual(out["detection"], detection);
      const mask = out["mask"] as { data: Uint8Array; width: number; height: number; space: string; threshold: number };
      assert.ok(mask.data instanceof Uint8Array);
      assert.deepEqual({ ...mask, data: [...mask.data] }, { data: [0, 1, 1, 0, 1, 0], width: 3, height: 2, space: "model", threshold: 0.5 });
      assert.equal(out.topic, "part-1");

      const ok = await send({ payload: 0.2, mask: "stale" });
      assert.deepEqual(ok.payload, { verdict: "OK", score: 0.2, threshold: 0.5, mode: "fixed" });
      assert.equal("mask" in ok, false, "no map, no mask");
      assert.equal("detection" in ok, false, "a plain number is not kept as detection");
      await send({ payload: 0.1 });
      const texts = statusTexts(thr());
      assert.deepEqual(texts.slice(0, 2), [status("loading"), "ready (fixed 0.5)"]);
      assert.equal(texts.length, 4, "a repeated verdict sends no status");
      assertVerdictStatus(texts[2], "ng");
      assertVerdictStatus(texts[3], "ok");
    });

    it("has an uncertain band, hysteresis and its own pixel threshold", async function () {
      await load({ threshold: "0.6", lowThreshold: "0.4", hysteresis: "0.5", pixelThreshold: "0.55" });
      const verdicts: string[] = [];
      for (const score of [0.3, 0.45, 0.6, 0.35, 0.29, 0.5]) verdicts.push(((await send({ payload: score })).payload as { verdict: string }).verdict);
      // NG holds down to 0.6 * (1 - 0.5) = 0.3.
      assert.deepEqual(verdicts, ["OK", "UNCERTAIN", "NG", "NG", "OK", "UNCERTAIN"]);
      const out = await send({ payload: { score: 0.45 }, anomalyMap: { data: new Float32Array([0.5, 0.55, 0.7, 0]), width: 2, height: 2, space: "original" } });
      assert.deepEqual(out.payload, { verdict: "UNCERTAIN", score: 0.45, threshold: 0.6, lowThreshold: 0.4, mode: "fixed" });
      assert.deepEqual([...(out["mask"] as { data: Uint8Array }).data], [0, 1, 1, 0]);
      assertVerdictStatus(statusTexts(thr()).at(-1), "uncertain");
    });
  });

  describe("calibration by messages", function () {
    it("sigma: mean + k sd of good samples, with progress in the status, saved to the user directory", async function () {
      await load({ mode: "sigma", k: "3", calibrationCount: "3" });
      await waitForStatus(thr(), status("uncalibrated"));
      const answers = await calibrate(good(2, 4, 6));
      assert.deepEqual(answers.slice(0, 2), [
        { calibrating: true, count: 1, total: 3, label: "good" },
        { calibrating: true, count: 2, total: 3, label: "good" },
      ]);
      const calibration = answers[2]!.calibration!;
      assert.deepEqual([calibration.threshold, calibration.mode, calibration.samples], [10, "sigma", { good: 3, defect: 0 }]);
      assert.deepEqual(statusTexts(thr()), [status("loading"), status("uncalibrated"), "calibrating 1/3", "calibrating 2/3", "ready (sigma 10)"]);
      const saved = JSON.parse(await readFile(calibrationFile(), "utf8")) as Record<string, unknown>;
      assert.deepEqual(
        [saved["format"], saved["version"], saved["mode"], saved["parameters"], saved["threshold"]],
        ["defect-threshold", 2, "sigma", { k: 3 }, 10],
      );
      const out = await send({ payload: { score: 10 } });
      assert.deepEqual(out.payload, { verdict: "NG", score: 10, threshold: 10, mode: "sigma" });
    });

    it("quantile: the split-conformal threshold at the false-reject rate, its promise, an uncertain band", async function () {
      await load({ mode: "quantile", frr: "25", band: "0.5", calibrationCount: "7" });
      // n = 7 at 25 %: k = ceil(8 * 0.75) = 6, so 50 is the last good score accepted and 60 is rejected.
      const answers = await calibrate(good(0, 60, 10, 50, 20, 40, 30));
      const calibration = answers[6]!.calibration!;
      assert.ok(calibration.threshold > 50 && calibration.threshold < 50.000001, String(calibration.threshold));
      assert.equal(calibration.lowThreshold, calibration.threshold * 0.5);
      assert.deepEqual(calibration.promise, { frr: 1 - 6 / 8, frrBound95: calibration.promise!.frrBound95, confidence: 0.95 });
      assert.ok(calibration.promise!.frrBound95 > 0.25 && calibration.promise!.frrBound95 < 0.6);
      assert.equal(statusTexts(thr()).at(-1), "ready (quantile 50, FRR 25 %)", "the status states the rate promised");
      const verdict = async (score: number): Promise<unknown> => ((await send({ payload: score })).payload as { verdict: string }).verdict;
      assert.equal(await verdict(50), "UNCERTAIN");
      assert.equal(await verdict(60), "NG");
      assert.equal(await verdict(20), "OK");
    });

    it("f1: labels from msg.label and from MVTec paths", async function () {
      await load({ mode: "f1", calibrationCount: "7" });
      const answers = await calibrate([
        { payload: { score: 1 }, filename: "/mvtec/bottle/test/good/000.png" },
        { payload: { score: 2 }, filename: "/mvtec/bottle/train/good/001.png" },
        { payload: { score: 3 } },
        { payload: { score: 4 }, label: "good", filename: "/mvtec/bottle/test/crack/009.png" },
        { payload: { score: 3.5 }, filename: "/mvtec/bottle/test/crack/000.png" },
        { payload: { score: 6 }, label: "defect" },
        { payload: { score: 7 }, filename: "C:\\mvtec\\bottle\\test\\broken_large\\001.png" },
      ]);
      assert.deepEqual(
        answers.map((a) => a.label),
        ["good", "good", "good", "good", "defect", "defect", "defect"],
      );
      assert.equal(answers[6]!.calibration!.threshold, 3.25);
      assert.equal(statusTexts(thr()).at(-1), "ready (f1 3.25)");
      assert.equal(((await send({ payload: 3.3 })).payload as { verdict: string }).verdict, "NG");
    });

    it("calibrates on command with what it has, and reset forgets it and deletes the file", async function () {
      await load({ mode: "sigma", k: "1.5", calibrationCount: "100" });
      await calibrate(good(2, 4, 6));
      assert.equal(statusTexts(thr()).at(-1), "calibrating 3/100");
      const done = await send({ command: "calibrate" });
      assert.equal((done.payload as { command: string; calibration: { threshold: number } }).command, "calibrate");
      assert.equal((done.payload as { calibration: { threshold: number } }).calibration.threshold, 7);
      await stat(calibrationFile());
      assert.deepEqual((await send({ command: "reset" })).payload, { command: "reset", deleted: true });
      await assert.rejects(stat(calibrationFile()), /ENOENT/);
      assert.equal(statusTexts(thr()).at(-1), status("uncalibrated"));
      assert.deepEqual((await send({ command: "reset" })).payload, { command: "reset", deleted: false });
    });
  });

  describe("calibration from the detector's learning result", function () {
    /** Scores 1..n in a shuffled order, as the detector hands over its learned images' leave-one-out scores. */
    const scores = (n: number): number[] => Array.from({ length: n }, (_, i) => ((i * 37) % n) + 1);
    const learned = (handed: unknown) => ({ learning: true, count: 200, total: 200, model: { bankSize: 10, trainedOn: 200 }, calibration: handed });

    it("calibrates again from the scores a confirmed defect's answer hands over, and passes the answer on", async function () {
      await load({ mode: "quantile" });
      await send({ payload: learned({ kind: "leave-one-out", scores: scores(200) }) });
      assert.equal(statusTexts(thr()).at(-1), "ready (quantile 199, FRR 0.995 %)");
      // The same learned images scored as the model scores after the confirmation: higher.
      const handed = { kind: "leave-one-out", scores: scores(200).map((s) => s + 100) };
      const confirmed = { confirmed: "defect", partId: "p7", bank: { good: 10, defect: 0, labelled: 1, pending: 0 }, version: 2, calibration: handed };
      const out = await send({ payload: confirmed });
      const answer = out.payload as SampleAnswer & { handover: string };
      assert.deepEqual([answer.calibrating, answer.count, answer.handover], [true, 200, "leave-one-out"]);
      assert.ok(answer.calibration!.threshold > 299 && answer.calibration!.threshold < 299.0001, String(answer.calibration!.threshold));
      assert.deepEqual(out["detection"], confirmed);
      assert.equal(statusTexts(thr()).at(-1), "ready (quantile 299, FRR 0.995 %)");
      assert.equal(((await send({ payload: { score: 250 } })).payload as { verdict: string }).verdict, "OK");
      // An answer that hands nothing over (a good part confirmed) changes nothing.
      const plain = { confirmed: "good", partId: "p8", bank: { good: 11, defect: 0, labelled: 1, pending: 0 }, version: 3 };
      assert.deepEqual((await send({ payload: plain })).payload, plain);
      assert.equal(((await send({ payload: { score: 299.5 } })).payload as { verdict: string; threshold: number }).threshold, answer.calibration!.threshold);
    });

    it("calibrates from the handed-over scores without any image, saves them, and keeps them across a restart", async function () {
      await load({ mode: "quantile" });
      await waitForStatus(thr(), status("uncalibrated"));
      const handed = { kind: "leave-one-out", scores: scores(200) };
      const out = await send({ payload: learned(handed), topic: "learned" });
      const answer = out.payload as SampleAnswer & { handover: string };
      assert.deepEqual([answer.calibrating, answer.count, answer.total, answer.label, answer.handover], [true, 200, 200, "good", "leave-one-out"]);
      // n = 200 at 1 %: k = 199, the last accepted score is 199.
      const calibration = answer.calibration!;
      assert.ok(calibration.threshold > 199 && calibration.threshold < 199.0001, String(calibration.threshold));
      assert.deepEqual(calibration.samples, { good: 200, defect: 0 });
      assert.ok(Math.abs(calibration.promise!.frr - 2 / 201) < 1e-12 && calibration.promise!.confidence === 0.95);
      assert.deepEqual(out["detection"], learned(handed), "the detector's answer travels on as msg.detection");
      assert.equal(statusTexts(thr()).at(-1), "ready (quantile 199, FRR 0.995 %)");
      const saved = JSON.parse(await readFile(calibrationFile(), "utf8")) as { version: number; handover: unknown };
      assert.deepEqual([saved.version, saved.handover], [2, handed]);
      assert.equal(((await send({ payload: { score: 199.5 } })).payload as { verdict: string }).verdict, "NG");

      // A restart: the calibration and the handed-over scores are back; a few labelled defects then
      // calibrate again with those good scores, and report the recall they expect and a review band.
      await helper.unload();
      await load({ mode: "quantile", bandFrom: "defects", recall: "99" });
      await waitForStatus(thr(), "ready (quantile 199, FRR 0.995 %)");
      await calibrate([150, 195, 250].map((score) => ({ payload: { score }, label: "defect" })));
      const again = ((await send({ command: "calibrate" })).payload as { calibration: NonNullable<SampleAnswer["calibration"]> }).calibration;
      assert.deepEqual(again.samples, { good: 200, defect: 3 });
      assert.equal(again.threshold, calibration.threshold);
      assert.equal(again.labelled?.recall, 1 / 3);
      // Recall 99 % of 3 defects: all of them, so the band starts at the lowest, 150; goods 150..199 and two defects are in it.
      assert.deepEqual(again.labelled?.band, { lowThreshold: 150, recall: 1, review: 52 / 203, reviewGood: 50, reviewDefect: 2 });
      assert.deepEqual((await send({ payload: 160 })).payload, {
        verdict: "UNCERTAIN",
        score: 160,
        threshold: calibration.threshold,
        lowThreshold: 150,
        mode: "quantile",
      });
    });

    it("with too few scores for the rate, warns how many are needed and passes the learning result on", async function () {
      await load({ mode: "quantile" });
      await waitForStatus(thr(), status("uncalibrated"));
      const payload = learned({ kind: "leave-one-out", scores: scores(4) });
      const out = await send({ payload });
      assert.deepEqual(out.payload, payload);
      assert.deepEqual(warnings(), [
        "Calibration failed: a false-reject rate of 1 % needs at least 99 good scores of parts the model did not learn from, got 4",
      ]);
      await expectCaught({ payload: 1 }, "notCalibrated");
    });

    it("refuses handed-over scores that are not all finite numbers", async function () {
      await load({ mode: "quantile" });
      await expectCaught(
        { payload: learned({ kind: "leave-one-out", scores: [1, null, 3] }) },
        "invalidOption",
        "Invalid msg.payload.calibration: scores[1] is null, not a finite number",
      );
      await expectCaught({ payload: 1 }, "notCalibrated", "mode quantile has no calibration yet: send good samples with msg.calibrate = true");
    });

    it("the other modes pass the learning result on as it is", async function () {
      for (const mode of ["fixed", "sigma", "f1"]) {
        await load({ mode });
        const payload = learned({ kind: "leave-one-out", scores: scores(200) });
        assert.deepEqual((await send({ payload })).payload, payload, mode);
        await helper.unload();
      }
    });
  });

  describe("the saved calibration", function () {
    it("is loaded again after a redeploy", async function () {
      await load({ mode: "sigma", calibrationCount: "3" });
      await calibrate(good(2, 4, 6));
      await helper.unload();
      await load({ mode: "sigma", calibrationCount: "3" });
      await waitForStatus(thr(), "ready (sigma 10)");
      assert.deepEqual(statusTexts(thr()), [status("loading"), "ready (sigma 10)"]);
      assert.deepEqual((await send({ payload: 9 })).payload, { verdict: "OK", score: 9, threshold: 10, mode: "sigma" });
    });

    it("is completely written before the node finishes closing", async function () {
      await load({ mode: "sigma", calibrationCount: "3" });
      await calibrate(good(2, 4));
      thr().receive({ calibrate: true, payload: 6 });
      await helper.unload();
      assert.equal((JSON.parse(await readFile(calibrationFile(), "utf8")) as { threshold: number }).threshold, 10);
    });

    it("is not used, and kept, when the node now uses other parameters", async function () {
      await load({ mode: "sigma", calibrationCount: "3" });
      await calibrate(good(2, 4, 6));
      await helper.unload();
      const saved = await readFile(calibrationFile());
      await load({ mode: "sigma", k: "2", calibrationCount: "3" });
      await waitForStatus(thr(), status("recalibrate"));
      const file = calibrationFile();
      const reason = `The saved calibration ${file} is not used: saved sigma (k 3), now sigma (k 2). It is kept: restore the settings, or calibrate again`;
      assert.deepEqual(warnings(), [reason]);
      await expectCaught(
        { payload: 1 },
        "notCalibrated",
        `mode sigma has no calibration yet (the saved calibration was not used: ${reason}): send good samples with msg.calibrate = true`,
      );
      assert.ok((await readFile(file)).equals(saved), "the file is untouched");
      await calibrate(good(1, 2, 3));
      assert.equal(statusTexts(thr()).at(-1), "ready (sigma 4)", "a new calibration replaces it");
      assert.deepEqual((JSON.parse(await readFile(file, "utf8")) as { parameters: unknown }).parameters, { k: 2 });
    });

    it("is not used, and kept, when written in another format version", async function () {
      await mkdir(join(userDir(), "defect-detection"), { recursive: true });
      const future = JSON.stringify({ format: "defect-threshold", version: 3, mode: "sigma", parameters: { k: 3 }, threshold: 1 });
      await writeFile(calibrationFile(), future);
      await load({ mode: "sigma" });
      await waitForStatus(thr(), status("recalibrate"));
      assert.deepEqual(warnings(), [
        `The saved calibration ${calibrationFile()} has format 3; this version of the package reads formats 1, 2. It is kept: calibrate again to replace it`,
      ]);
      await expectCaught({ payload: 1 }, "notCalibrated");
      assert.equal(await readFile(calibrationFile(), "utf8"), future);
    });
  });

  describe("errors reach Catch with the message, and the next message works", function () {
    it("noScoreInput", async function () {
      await load();
      await expectCaught({ payload: "0.7" }, "noScoreInput", "No score on the message: msg.payload is string; expected a number or the detector's { score }");
      assert.equal(statusTexts(thr()).at(-1), status("error"));
      assert.equal(((await send({ payload: 0.7 })).payload as { verdict: string }).verdict, "NG");
      assertVerdictStatus(statusTexts(thr()).at(-1), "ng");
      await expectCaught(
        { payload: { score: 1 }, anomalyMap: { data: new Float32Array(3), width: 2, height: 2 } },
        "invalidOption",
        "Invalid msg.anomalyMap: 3 values do not fill 2x2",
      );
      await expectCaught({ command: "fit" }, "invalidOption", "Invalid msg.command: fit");
      await expectCaught(
        { payload: 1, calibrate: true },
        "calibrationFailed",
        "Calibration failed: mode fixed uses the configured threshold and takes no calibration samples: choose a calibrated mode",
      );
      assert.equal(((await send({ payload: 0.1 })).payload as { verdict: string }).verdict, "OK");
    });

    it("notCalibrated", async function () {
      await load({ mode: "quantile", calibrationCount: "2" });
      await expectCaught({ payload: { score: 1 } }, "notCalibrated", "mode quantile has no calibration yet: send good samples with msg.calibrate = true");
      assert.deepEqual((await calibrate(good(5)))[0], { calibrating: true, count: 1, total: 2, label: "good" });
    });

    it("calibrationFailed", async function () {
      await load({ mode: "f1", calibrationCount: "2" });
      await calibrate(good(1));
      await expectCaught(
        { payload: 2, calibrate: true, label: "good" },
        "calibrationFailed",
        "Calibration failed: mode f1 needs at least 1 defect sample, got 2 good and 0 defect " +
          "(label samples with msg.label, or name them in an MVTec test/<defect> folder)",
      );
      await expectCaught({ payload: 2, calibrate: true, label: "bad" }, "invalidOption", "Invalid msg.label: bad");
      const [answer] = await calibrate([{ payload: 9, label: "defect" }]);
      assert.deepEqual([answer!.count, answer!.calibration!.threshold], [3, 5.5]);
      assert.equal(statusTexts(thr()).at(-1), "ready (f1 5.5)");
    });

    it("fileWriteFailed: the calibration is answered and used although it cannot be saved", async function () {
      // A file where the folder should be makes every write fail.
      await writeFile(join(userDir(), "defect-detection"), "not a folder");
      await load({ mode: "sigma", calibrationCount: "3" });
      await calibrate(good(2, 4));
      const caught = nextMessage(getNode("caught"));
      const [answer] = await calibrate(good(6));
      assert.equal(answer!.calibration!.threshold, 10);
      const error = caughtError(await caught);
      assert.equal(error.code, "fileWriteFailed");
      assert.ok(error.message.startsWith(`Error: The calibration file could not be changed: Could not write ${calibrationFile()}: `), error.message);
      assert.equal(((await send({ payload: 11 })).payload as { verdict: string }).verdict, "NG");
    });

    for (const [what, config, option] of [
      ["k < 0", { mode: "sigma", k: "-1" }, "k: -1"],
      ["a false-reject rate of 100 %", { mode: "quantile", frr: "100" }, "frr: 100"],
      ["a band of 1", { mode: "recall", band: "1" }, "band: 1"],
      ["an unknown mode", { mode: "median" }, "mode: median"],
    ] as const) {
      it(`rejects ${what} at deploy and every message after`, async function () {
        await load(config);
        assert.deepEqual(statusTexts(thr()), [status("error")]);
        await expectCaught({ payload: 1 }, "invalidOption", `Invalid ${option}`);
      });
    }
  });

  describe("admin endpoint", function () {
    const url = `/${TYPE}/${ID}/calibrate`;

    it("calibrates and resets a deployed node", async function () {
      await load({ mode: "sigma", calibrationCount: "100" });
      const refused = await helper.request().post(url).send({ action: "calibrate" }).expect(409);
      assert.deepEqual(refused.body, {
        code: "calibrationFailed",
        error: "Calibration failed: no calibration samples yet: send scores with msg.calibrate = true",
      });
      await calibrate(good(2, 4, 6));
      const response = await helper.request().post(url).send({ action: "calibrate" }).expect(200);
      const body = response.body as { action: string; calibration: { threshold: number; samples: { good: number } } };
      assert.deepEqual([body.action, body.calibration.threshold, body.calibration.samples.good], ["calibrate", 10, 3]);
      assert.equal(statusTexts(thr()).at(-1), "ready (sigma 10)");
      await stat(calibrationFile());
      assert.deepEqual((await helper.request().post(url).send({ action: "reset" }).expect(200)).body, { action: "reset", deleted: true });
      assert.equal(statusTexts(thr()).at(-1), status("uncalibrated"));
    });

    it("answers 404 for an unknown id or another node type, 400 for a bad action", async function () {
      await load({ mode: "sigma" });
      await helper.request().post(`/${TYPE}/nope/calibrate`).send({ action: "calibrate" }).expect(404);
      await helper.request().post(`/${TYPE}/out/calibrate`).send({ action: "calibrate" }).expect(404);
      const bad = await helper.request().post(url).send({ action: "explode" }).expect(400);
      assert.deepEqual(bad.body, { error: "action must be one of calibrate, reset" });
      await helper.request().post(url).send({}).expect(400);
    });

    it("is registered once per admin app", function () {
      let routes = 0;
      const app = {
        post: () => {
          routes++;
        },
      };
      const RED = { httpAdmin: app, auth: { needsPermission: () => () => undefined } } as unknown as NodeAPI;
      registerAdminEndpoint(RED, TYPE);
      registerAdminEndpoint(RED, TYPE);
      assert.equal(routes, 1);
    });
  });

  describe("catalog", function () {
    const keys = catalogKeys("threshold");
    it("has a message for every error code and status the node uses", function () {
      for (const code of [
        "invalidOption",
        "noScoreInput",
        "notCalibrated",
        "calibrationFailed",
        "modelMismatch",
        "modelFileInvalid",
        "modelFileVersion",
        "fileReadFailed",
        "fileWriteFailed",
        "resultIdsFailed",
        "unexpected",
      ]) {
        assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      }
      for (const state of ["loading", "ready", "calibrating", "uncalibrated", "recalibrate", "ok", "ng", "uncertain", "error"]) {
        assert.ok(keys.has(`${TYPE}.status.${state}`), state);
      }
    });

    it("has every string the editor asks for", function () {
      const html = readFileSync(join(process.cwd(), "src/nodes/threshold.html"), "utf8");
      const notices = [...html.matchAll(/node\._\("([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(notices.length >= 4);
      for (const key of [...editorI18nKeys("threshold"), ...notices]) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of ThresholdNodeDef", function () {
      const defined: EditorKeys<ThresholdNodeDef> = {
        name: true,
        mode: true,
        threshold: true,
        lowThreshold: true,
        k: true,
        frr: true,
        recall: true,
        band: true,
        bandFrom: true,
        hysteresis: true,
        pixelThreshold: true,
        calibrationCount: true,
        labelProperty: true,
      };
      assert.deepEqual(editorDefaultKeys("threshold").sort(), Object.keys(defined).sort());
    });
  });
});
