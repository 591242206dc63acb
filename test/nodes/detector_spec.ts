/**
 * defect-detector end to end in Node-RED: learning from messages and from a folder, fitting,
 * inspecting, the saved model across restarts, refusals that keep the file, anomalib exports
 * and every error path through Catch. Tensors come from the real preprocess core run on
 * synthetic parts (a 96 px casting made into a 64 px tensor), the backbone is the tiny fixture.
 * Status and error texts go through the node's real en-US catalog, so tests see what users see.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import type { SinonSpy } from "sinon";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { PreprocessOptions, RawImage, MessageScoreMap, ScoreMap, Tensor, Transform } from "../../src/lib/image/types";
import { openSessionCount } from "../../src/lib/onnx";
import { generateDefect, generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { buildV2Model, rampTensor, writeAnomalibExport, type TempExport } from "../fixtures/anomalib-models";
import { encodePng } from "../fixtures/images";
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
  recordStatusTexts,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";
import { catalogTranslator, withCatalog, statusText } from "../fixtures/catalog";

const TYPE = "defect-detector";
const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
const TRAIN = 4;
/** The tiny backbone's l1 grid is a quarter of the tensor side. */
const PATCHES_PER_IMAGE = (TENSOR_SIZE / 4) ** 2;
/** Fits of a few thousand patches take well under a second; loaded CI machines get room. */
const FIT_WAIT_MS = 15_000;
const LIMITS = { maxPixels: 1e8 };

const translate = catalogTranslator("detector");

const node = withCatalog(detectorNode, translate);

const status = statusText(TYPE, translate);

interface Prepared {
  tensor: Tensor;
  transform: Transform;
  preprocessing: PreprocessOptions;
}

const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: TENSOR_SIZE, height: TENSOR_SIZE });

async function prepare(image: RawImage, options = OPTIONS): Promise<Prepared> {
  const { tensor, transform } = await preprocessImage(await encodePng(image), options, LIMITS);
  return { tensor, transform, preprocessing: options };
}

/** A fresh message each time: the node replaces msg.payload. */
function msgOf(p: Prepared, extra: Record<string, unknown> = {}): NodeMessage {
  return { payload: p.tensor, transform: p.transform, preprocessing: { ...p.preprocessing }, ...extra };
}

describe("defect-detector node", function () {
  this.timeout(60_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let otherBackbone = "";
  let train: Prepared[] = [];
  let good: Prepared[] = [];
  let defect: Prepared;
  let anomalib: TempExport;

  const modelFile = (): string => join(userDir(), "defect-detection", "det.ddm");
  const patchcore = (config: Partial<DetectorNodeDef> = {}): Partial<DetectorNodeDef> => ({
    backbone,
    layers: "l1,l2",
    trainCount: String(TRAIN),
    ...config,
  });

  async function load(config: Partial<DetectorNodeDef>): Promise<void> {
    const det: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([det, { id: "out", type: "helper" }, ...catchAll()]));
  }

  const det = () => getNode("det");

  async function send(msg: NodeMessage, timeoutMs?: number): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"), timeoutMs);
    det().receive(msg);
    return out;
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<NodeMessage> {
    const caught = nextMessage(getNode("caught"), FIT_WAIT_MS);
    det().receive({ _msgid: `m-${code}`, ...msg });
    const result = await caught;
    assert.equal(caughtError(result).code, code, caughtError(result).message);
    if (message !== undefined) assert.equal(caughtError(result).message, `Error: ${message}`);
    assert.equal(result._msgid, `m-${code}`, "the failed message itself reaches Catch");
    return result;
  }

  /** Learns `samples` by message; resolves with the progress messages, the last after the fit. */
  async function learn(samples: readonly Prepared[]): Promise<NodeMessage[]> {
    const outs = collectMessages(getNode("out"), samples.length, FIT_WAIT_MS);
    for (const s of samples) det().receive(msgOf(s, { learn: true }));
    return outs;
  }

  async function score(p: Prepared): Promise<number> {
    return ((await send(msgOf(p))).payload as { score: number }).score;
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-detector-"));
    backbone = await writeTinyBackbone(dir);
    await mkdir(join(dir, "other"));
    otherBackbone = await writeTinyBackbone(join(dir, "other"), 8);
    train = await Promise.all([1, 2, 3, 4].map((seed) => prepare(generateGood(KIND, seed, SOURCE_SIZE))));
    good = await Promise.all([100, 101, 102].map((seed) => prepare(generateGood(KIND, seed, SOURCE_SIZE))));
    defect = await prepare(generateDefect(KIND, "hole", 200, SOURCE_SIZE).image);
    anomalib = await writeAnomalibExport(buildV2Model({ size: 8, scoreShape: "flat" }));
  });

  after(async function () {
    await anomalib.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  describe("learning and inspecting (PatchCore)", function () {
    it("learns good images by message, fits at trainCount, saves, and scores a defect above good parts", async function () {
      const sessions = openSessionCount();
      await load(patchcore());
      await waitForStatus(det(), status("untrained"));
      const progress = await learn(train);
      // The fit is the model's first save (confirmed parts add versions); the rest of what it says is checked below.
      const fitted = (progress[3]!.payload as { model: Record<string, unknown> }).model;
      assert.equal(fitted["version"], 1);
      delete fitted["version"];
      assert.deepEqual(
        progress.slice(0, 3).map((m) => m.payload),
        [1, 2, 3].map((count) => ({ learning: true, count, total: TRAIN })),
      );
      type Handed = { kind: string; scores: number[] };
      const last = progress[3]!.payload as { learning: boolean; count: number; total: number; model: Record<string, unknown>; calibration: Handed };
      // The fit hands over each learned image's score against the model without its own rows
      // (and its variants'): good scores a threshold calibrates from without reading an image again.
      const handed = last.calibration;
      assert.equal(handed.kind, "leave-one-out");
      assert.equal(handed.scores.length, TRAIN);
      assert.ok(
        handed.scores.every((s) => Number.isFinite(s) && s > 0),
        handed.scores.join(", "),
      );
      assert.deepEqual(
        { ...last, calibration: undefined, model: { ...last.model, created: "" } },
        {
          learning: true,
          count: TRAIN,
          total: TRAIN,
          // 4 images are few: each is also learned as 7 variants (detector-fewshot_spec.ts).
          // 4 images and 7 variants each, 256 patches an image: 8,192 patches, 5 % kept.
          model: { bankSize: 409, trainedOn: TRAIN, variants: TRAIN * 7, created: "" },
          calibration: undefined,
        },
      );
      assert.ok(typeof (progress[0]!["timings"] as Record<string, number>)["detectorMs"] === "number");
      assert.deepEqual(statusTexts(det()), [
        status("loading"),
        status("untrained"),
        status("learning", { count: 1, total: TRAIN }),
        status("learning", { count: 2, total: TRAIN }),
        status("learning", { count: 3, total: TRAIN }),
        status("fitting", { count: TRAIN }),
        status("ready"),
      ]);
      assert.equal(status("learning", { count: 1, total: TRAIN }), "learning 1/4");
      assert.ok((await stat(modelFile())).size > 0, "the model is saved under the user directory");

      const goodScores = [];
      for (const p of good) goodScores.push(await score(p));
      const inspected = await send(msgOf(defect, { topic: "part-200" }));
      const payload = inspected.payload as { score: number; method: string; model: Record<string, unknown> };
      assert.ok(payload.score > Math.max(...goodScores), `defect ${payload.score} vs good ${goodScores.join(", ")}`);
      assert.equal(payload.method, "patchcore");
      assert.equal(payload.model["trainedOn"], TRAIN);
      const map = inspected["anomalyMap"] as ScoreMap;
      assert.deepEqual([map.width, map.height, map.data.length], [SOURCE_SIZE, SOURCE_SIZE, SOURCE_SIZE * SOURCE_SIZE], "original image pixels");
      assert.ok(map.data instanceof Float32Array);
      assert.equal(inspected.topic, "part-200");
      const timings = inspected["timings"] as Record<string, number>;
      for (const key of ["detectorMs", "backboneMs", "scoringMs", "postMs"]) assert.ok(timings[key]! >= 0, key);
      // Against the whole bank each learned image finds its own rows: it scores lower than left out.
      const learnedScores = [];
      for (const p of train) learnedScores.push(await score(p));
      const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
      assert.ok(sum(handed.scores) > sum(learnedScores), `left out ${handed.scores.join(", ")} vs in the bank ${learnedScores.join(", ")}`);

      await helper.unload();
      assert.equal(openSessionCount(), sessions, "closing releases every session");
    });

    it("keeps the map at model resolution, or leaves it out, as configured", async function () {
      await load(patchcore({ trainCount: "2", mapSize: "model" }));
      await learn(train.slice(0, 2));
      const map = (await send(msgOf(defect)))["anomalyMap"] as ScoreMap;
      assert.deepEqual([map.width, map.height], [TENSOR_SIZE, TENSOR_SIZE]);
      await helper.unload();
      await load(patchcore({ trainCount: "2", mapSize: "none" }));
      await waitForStatus(det(), status("ready"));
      const inspected = await send(msgOf(defect, { anomalyMap: "stale" }));
      assert.equal("anomalyMap" in inspected, false);
    });

    it("fits on command with what it has, and reset forgets the model and deletes the file", async function () {
      await load(patchcore({ trainCount: "10" }));
      await learn(train.slice(0, 2));
      const fitted = await send({ command: "fit" }, FIT_WAIT_MS);
      const payload = fitted.payload as { command: string; model: Record<string, unknown>; calibration: { kind: string; scores: number[] } };
      assert.equal(payload.command, "fit");
      assert.equal(payload.model["trainedOn"], 2);
      assert.deepEqual([payload.calibration.kind, payload.calibration.scores.length], ["leave-one-out", 2], "the fit's answer hands over the scores too");
      await stat(modelFile());
      assert.ok((await score(good[0]!)) >= 0);

      const reset = await send({ command: "reset" });
      assert.deepEqual(reset.payload, { command: "reset", deleted: true });
      assert.equal(reset["command"], undefined, "a threshold wired after must not reset too");
      await assert.rejects(stat(modelFile()), /ENOENT/);
      await expectCaught(msgOf(good[0]!), "notTrained", "no model yet: learn good images first (msg.learn = true)");
      assert.deepEqual((await send({ command: "reset" })).payload, { command: "reset", deleted: false });
      assert.equal(statusTexts(det()).at(-1), status("untrained"));
    });

    it("answers inspections with the previous model while a new round is fitted", async function () {
      await load(patchcore({ trainCount: "2" }));
      await learn(train.slice(0, 2));
      type Model = { trainedOn: number; created: string };
      type Scored = { score: number; model: Model };
      const before = (await send(msgOf(good[0]!))).payload as Scored;
      const outs = collectMessages(getNode("out"), 3, FIT_WAIT_MS);
      det().receive(msgOf(train[2]!, { learn: true }));
      det().receive(msgOf(train[3]!, { learn: true }));
      det().receive(msgOf(good[0]!, { topic: "during" }));
      const messages = await outs;
      // Inspections have their own queue: this one is answered while the round is still
      // learned and fitted (before the answer that carries the new model), by the model in
      // use, to the bit.
      const order = messages.map((m) => (m.topic === "during" ? "during" : (m.payload as { model?: Model }).model === undefined ? "learned" : "fitted"));
      assert.equal(order.at(-1), "fitted", order.join(", "));
      const during = messages.find((m) => m.topic === "during")!.payload as Scored;
      assert.deepEqual(during.model, before.model);
      assert.equal(during.score, before.score);
      const fitted = (messages[2]!.payload as { model?: Model }).model;
      assert.ok(fitted !== undefined && fitted.created !== before.model.created, "the round's last image answers with the new model");
      const after = (await send(msgOf(good[0]!))).payload as Scored;
      assert.deepEqual(after.model, fitted);
      assert.notEqual(after.score, before.score, "later inspections use the new model");
    });
  });

  describe("learning and inspecting (PaDiM)", function () {
    it("learns by message, scores a defect above good parts and reloads its statistics after a restart", async function () {
      const sessions = openSessionCount();
      await load(patchcore({ method: "padim" }));
      const progress = await learn(train);
      const model = (progress[3]!.payload as { model: Record<string, unknown> }).model;
      // The tiny backbone has 16 + 32 channels, fewer than PaDiM's 100, so all are kept.
      assert.deepEqual({ ...model, created: "" }, { positions: PATCHES_PER_IMAGE, features: 48, trainedOn: TRAIN, created: "" });
      const goodScores = [];
      for (const p of good) goodScores.push(await score(p));
      const defectScore = await score(defect);
      assert.ok(defectScore > Math.max(...goodScores), `defect ${defectScore} vs good ${goodScores.join(", ")}`);
      await helper.unload();
      assert.equal(openSessionCount(), sessions);

      await load(patchcore({ method: "padim" }));
      await waitForStatus(det(), status("ready"));
      const inspected = await send(msgOf(defect));
      assert.equal((inspected.payload as { score: number; method: string }).score, defectScore);
      assert.equal((inspected.payload as { method: string }).method, "padim");
      await helper.unload();
      assert.equal(openSessionCount(), sessions);
    });
  });

  describe("the saved model", function () {
    it("is loaded again after a restart and inspects without relearning", async function () {
      const sessions = openSessionCount();
      await load(patchcore({ trainCount: "2" }));
      await learn(train.slice(0, 2));
      const before = await score(defect);
      await helper.unload();
      assert.equal(openSessionCount(), sessions);

      await load(patchcore({ trainCount: "2" }));
      await waitForStatus(det(), status("ready"));
      assert.deepEqual(statusTexts(det()), [status("loading"), status("ready")]);
      // Several at once on the fresh model: its feature head is built once, not once each.
      const outs = collectMessages(getNode("out"), 3);
      for (const topic of ["a", "b", "c"]) det().receive(msgOf(defect, { topic }));
      for (const inspected of await outs) {
        assert.equal((inspected.payload as { score: number }).score, before);
        assert.equal((inspected.payload as { model: Record<string, unknown> }).model["trainedOn"], 2);
      }
      await helper.unload();
      assert.equal(openSessionCount(), sessions);
    });

    for (const [what, change, differences] of [
      ["other layers", () => ({ layers: "l2" }), () => "layers: saved l1,l2, now l2"],
      ["another backbone", () => ({ backbone: otherBackbone }), () => "backbone: saved tiny-backbone.onnx"],
      ["another method", () => ({ method: "padim" }), () => "method: saved patchcore, now padim"],
    ] as const) {
      it(`is refused, kept and not overwritten when the node now uses ${what}`, async function () {
        await load(patchcore({ trainCount: "2" }));
        await learn(train.slice(0, 2));
        await helper.unload();
        const saved = await readFile(modelFile());

        await load(patchcore({ trainCount: "2", ...change() }));
        await waitForStatus(det(), status("mismatch"));
        const caught = await expectCaught(msgOf(good[0]!), "modelMismatch");
        const message = caughtError(caught).message;
        assert.ok(message.startsWith(`Error: The saved model ${modelFile()} does not match the configuration (${differences()}`), message);
        assert.ok(message.endsWith(`It is kept: restore the configuration or send msg.command "reset"`), message);
        await expectCaught(msgOf(train[0]!, { learn: true }), "modelMismatch");
        await expectCaught({ command: "fit" }, "modelMismatch");
        assert.ok((await readFile(modelFile())).equals(saved), "the file is untouched");

        assert.deepEqual((await send({ command: "reset" })).payload, { command: "reset", deleted: true });
        await expectCaught(msgOf(good[0]!), "notTrained");
      });
    }

    it("is refused with a clear error when truncated, and kept", async function () {
      await load(patchcore({ trainCount: "2" }));
      await learn(train.slice(0, 2));
      await helper.unload();
      const whole = await readFile(modelFile());
      const cut = whole.subarray(0, Math.floor(whole.length / 2));
      await writeFile(modelFile(), cut);
      await load(patchcore({ trainCount: "2" }));
      await waitForStatus(det(), status("fileError"));
      const caught = await expectCaught(msgOf(good[0]!), "modelFileInvalid");
      const message = caughtError(caught).message;
      assert.ok(message.startsWith(`Error: The saved model ${modelFile()} cannot be used: the file is truncated (section "bank" ends at byte `), message);
      await expectCaught(msgOf(train[0]!, { learn: true }), "modelFileInvalid");
      assert.ok((await readFile(modelFile())).equals(cut), "the file is untouched");
    });

    it("is refused when written in another format version", async function () {
      await mkdir(join(userDir(), "defect-detection"), { recursive: true });
      const future = Buffer.alloc(64);
      future.write("DDMODEL\0", "latin1");
      future.writeUInt32LE(7, 8);
      await writeFile(modelFile(), future);
      await load(patchcore());
      await waitForStatus(det(), status("fileError"));
      await expectCaught(msgOf(good[0]!), "modelFileVersion", `The saved model ${modelFile()} has file format 7; this version of the package reads format 1`);
    });
  });

  describe("learning from a folder at deploy", function () {
    it("learns every image of the folder with the folder preprocessing and fits", async function () {
      const folder = join(dir, "good-folder");
      await mkdir(folder, { recursive: true });
      for (const seed of [1, 2, 3]) await writeFile(join(folder, `good-${seed}.png`), await encodePng(generateGood(KIND, seed, SOURCE_SIZE)));
      await writeFile(join(folder, "broken.png"), "not a png");
      await load(patchcore({ trainCount: "50", trainFolder: folder, folderPreset: "imagenet", folderSize: String(TENSOR_SIZE) }));
      const caught = nextMessage(getNode("caught"), FIT_WAIT_MS);
      const learned = nextMessage(getNode("out"), FIT_WAIT_MS);
      await waitForStatus(det(), status("ready"), FIT_WAIT_MS);
      assert.equal((await caught)["filename"], join(folder, "broken.png"), "a bad file is reported and skipped");
      // The fit of the folder is answered like a learned message's: a threshold wired after
      // calibrates from the scores it hands over.
      const result = await learned;
      const answer = result.payload as { learning: boolean; count: number; total: number; model: Record<string, unknown>; calibration: { scores: number[] } };
      assert.deepEqual([answer.learning, answer.count, answer.total, answer.model["trainedOn"]], [true, 3, 4, 3]);
      assert.equal(answer.calibration.scores.length, 3);
      assert.equal(result.topic, folder);
      const inspected = await send(msgOf(good[0]!));
      assert.equal((inspected.payload as { model: Record<string, unknown> }).model["trainedOn"], 3);
      const other = parsePreprocessOptions({ preset: "none", width: TENSOR_SIZE, height: TENSOR_SIZE });
      await expectCaught(
        msgOf(await prepare(generateGood(KIND, 5, SOURCE_SIZE), other)),
        "preprocessMismatch",
        "The image was preprocessed differently from what the model expects: mean [0,0,0] (learned with [0.485,0.456,0.406]); std [1,1,1] (learned with [0.229,0.224,0.225])",
      );
    });
  });

  describe("a training folder larger than Learn", function () {
    it("learns the first Learn images by name and warns naming the ones left over", async function () {
      const folder = join(dir, "big-folder");
      await mkdir(folder, { recursive: true });
      for (const seed of [1, 2, 3, 4, 5]) await writeFile(join(folder, `good-${seed}.png`), await encodePng(generateGood(KIND, seed, SOURCE_SIZE)));
      await load(patchcore({ trainCount: "3", trainFolder: folder, folderPreset: "imagenet", folderSize: String(TENSOR_SIZE) }));
      const learned = nextMessage(getNode("out"), FIT_WAIT_MS);
      await waitForStatus(det(), status("ready"), FIT_WAIT_MS);
      assert.deepEqual(((await learned).payload as { count: number; total: number }).count, 3);
      const model = ((await send(msgOf(good[0]!))).payload as { model: Record<string, unknown> }).model;
      assert.equal(model["trainedOn"], 3);
      const spy = det().warn as unknown as SinonSpy<[unknown], void>;
      const warned = spy
        .getCalls()
        .filter((call) => call.thisValue === det())
        .map((call) => String(call.args[0]));
      assert.ok(
        warned.includes("learned the first 3 of 5 images of the training folder (Learn); skipped 2 from good-4.png to good-5.png"),
        JSON.stringify(warned),
      );
    });
  });

  describe("learning few shots from a folder at deploy", function () {
    it("learns the first Learn images by name in the few-shot setting, with their variants", async function () {
      const folder = join(dir, "few-folder");
      await mkdir(folder, { recursive: true });
      for (const seed of [1, 2, 3, 4, 5]) await writeFile(join(folder, `good-${seed}.png`), await encodePng(generateGood(KIND, seed, SOURCE_SIZE)));
      await load(patchcore({ setting: "fewshot", trainCount: "3", trainFolder: folder, folderPreset: "imagenet", folderSize: String(TENSOR_SIZE) }));
      const learned = nextMessage(getNode("out"), FIT_WAIT_MS);
      await waitForStatus(det(), status("ready"), FIT_WAIT_MS);
      // The few-shot fit hands over its shots' leave-one-out scores (leave-one-out.ts), one a shot.
      assert.equal(((await learned).payload as { calibration: { scores: number[] } }).calibration.scores.length, 3);
      const model = ((await send(msgOf(good[0]!))).payload as { model: Record<string, unknown> }).model;
      // Default augmentation: 7 variants a shot (three mirrors, four small turns and shifts).
      assert.deepEqual([model["trainedOn"], model["variants"]], [3, 21]);
    });
  });

  describe("errors reach Catch with the message", function () {
    it("an inspection before any model", async function () {
      await load(patchcore());
      await expectCaught(msgOf(good[0]!), "notTrained", "no model yet: learn good images first (msg.learn = true)");
    });

    it("a payload that is not a tensor, and an unknown command", async function () {
      await load(patchcore());
      await expectCaught(
        { payload: Buffer.from("png?") },
        "noTensorInput",
        "msg.payload is not a tensor from the preprocess node: got a Buffer (an encoded image?): put a preprocess node before the detector",
      );
      await expectCaught({ payload: "text" }, "noTensorInput", "msg.payload is not a tensor from the preprocess node: got string");
      await expectCaught(
        { payload: { data: new Float32Array(3), dims: [1, 3, 2, 2], layout: "NCHW" } },
        "noTensorInput",
        "msg.payload is not a tensor from the preprocess node: 3 values do not fill dims [1,3,2,2]",
      );
      await expectCaught({ command: "train" }, "invalidOption", "Invalid msg.command: train");
    });

    it("a tensor of another size than the model learned", async function () {
      await load(patchcore({ trainCount: "2" }));
      await learn(train.slice(0, 2));
      const small = await prepare(generateGood(KIND, 9, SOURCE_SIZE), parsePreprocessOptions({ preset: "imagenet", width: 32, height: 32 }));
      await expectCaught(
        { payload: small.tensor },
        "inputShapeMismatch",
        "The input does not fit the model: the tensor is NCHW [1,3,32,32] but the model was learned on NCHW [1,3,64,64]: preprocess every image the same way",
      );
      await expectCaught(msgOf(small, { learn: true }), "inputShapeMismatch");
    });

    it("a missing backbone, a file that is no model, and layers the backbone lacks", async function () {
      await load(patchcore({ backbone: join(dir, "missing.onnx") }));
      await expectCaught(msgOf(good[0]!), "modelNotFound", `Model file not found: ${join(dir, "missing.onnx")}`);
      await helper.unload();
      const junk = join(dir, "junk.onnx");
      await writeFile(junk, "not onnx");
      await load(patchcore({ backbone: junk }));
      await expectCaught(msgOf(good[0]!), "modelLoadFailed");
      await helper.unload();
      await load(patchcore({ layers: "l1,layer3" }));
      await expectCaught(msgOf(good[0]!), "invalidOption", "Invalid layers: layer3");
      assert.equal(statusTexts(det()).at(-1), status("error"));
    });

    for (const [what, config, option] of [
      ["a coreset of 0", { coreset: "0" }, "coreset"],
      ["a coreset of 2", { coreset: "2" }, "coreset"],
      ["a trainCount of 0", { trainCount: "0" }, "trainCount"],
      ["an unknown method", { method: "svm" }, "method"],
      ["an unknown setting", { setting: "few-shot" }, "setting"],
      ["an unknown map size", { mapSize: "huge" }, "mapSize"],
      ["an empty layer name", { layers: "l1,,l2" }, "layers"],
      ["no backbone", { backbone: "" }, "backbone"],
      ["a neighbourhood of 5", { neighbourhood: "5" }, "neighbourhood"],
      ["place weights of yes", { placeWeights: "yes" }, "placeWeights"],
      ["place weights on with the re-weighted image score", { placeWeights: "on", imageScore: "reweighted" }, "placeWeights"],
      ["place weights on with a few shots", { placeWeights: "on", setting: "fewshot" }, "placeWeights"],
    ] as const) {
      it(`rejects ${what} at deploy and every message after`, async function () {
        await load(patchcore(config));
        assert.deepEqual(statusTexts(det()), [status("error")]);
        const caught = await expectCaught(msgOf(good[0]!), "invalidOption");
        assert.ok(caughtError(caught).message.startsWith(`Error: Invalid ${option}: `), caughtError(caught).message);
      });
    }
  });

  describe("anomalib exports", function () {
    const anomalibConfig = (config: Partial<DetectorNodeDef> = {}): Partial<DetectorNodeDef> => ({
      method: "anomalib",
      modelFile: anomalib.modelPath,
      ...config,
    });

    it("inspects with the export's normalised score and map, and cannot learn", async function () {
      const sessions = openSessionCount();
      await load(anomalibConfig({ mapSize: "model" }));
      await waitForStatus(det(), status("ready"));
      const inspected = await send({ payload: rampTensor(8) });
      assert.deepEqual(inspected.payload, { score: 63 / 64, method: "anomalib", model: { file: "model.onnx", version: "v2", threshold: 0.5 } });
      const map = inspected["anomalyMap"] as MessageScoreMap;
      assert.deepEqual([map.width, map.height, map.space], [8, 8, "model"]);
      assert.equal(map.data[10], 10 / 64);
      await expectCaught(
        { payload: rampTensor(8), learn: true },
        "learningUnsupported",
        "Method anomalib uses a model trained elsewhere and cannot learn in the flow",
      );
      await helper.unload();
      assert.equal(openSessionCount(), sessions);
    });

    it("maps the export's map onto the original image and checks msg.preprocessing", async function () {
      await load(anomalibConfig());
      const transform: Transform = {
        source: { width: 16, height: 16 },
        roi: { x: 0, y: 0, width: 16, height: 16 },
        scaleX: 0.5,
        scaleY: 0.5,
        offsetX: 0,
        offsetY: 0,
        width: 8,
        height: 8,
      };
      const map = (await send({ payload: rampTensor(8), transform }))["anomalyMap"] as MessageScoreMap;
      assert.deepEqual([map.width, map.height, map.data[0], map.space], [16, 16, 0, "original"]);
      await expectCaught(
        { payload: rampTensor(8), preprocessing: OPTIONS },
        "preprocessMismatch",
        "The image was preprocessed differently from what the model expects: width 64 (the export expects 8); height 64 (the export expects 8); " +
          "mean [0.485,0.456,0.406] (the export expects [0,0,0]); std [0.229,0.224,0.225] (the export expects [1,1,1])",
      );
      await expectCaught({ payload: rampTensor(8), transform: { ...transform, width: 4, height: 4 } }, "invalidOption", "Invalid msg.transform: 4x4");
    });
  });

  it("stops a running fit when closed, saves nothing and releases every session", async function () {
    const sessions = openSessionCount();
    await load(patchcore({ trainCount: "2" }));
    const fitting = waitForStatus(det(), status("fitting", { count: 2 }));
    for (const p of train.slice(0, 2)) det().receive(msgOf(p, { learn: true }));
    await fitting;
    await helper.unload();
    assert.equal(openSessionCount(), sessions);
    await assert.rejects(stat(modelFile()), /ENOENT/);
  });

  it("closes cleanly while nothing was learned: no session, no file, no late status", async function () {
    const sessions = openSessionCount();
    await load(patchcore());
    await waitForStatus(det(), status("untrained"));
    assert.ok(openSessionCount() > sessions, "the backbone's session is open while deployed");
    const shown = recordStatusTexts(det());
    await helper.unload();
    assert.equal(openSessionCount(), sessions);
    await assert.rejects(stat(modelFile()), /ENOENT/, "nothing learned, nothing saved");
    assert.deepEqual(shown, [], "closing for a redeploy shows nothing after the node is gone");
  });

  describe("catalog", function () {
    const keys = catalogKeys("detector");
    it("has a message for every error code and status the node uses", function () {
      for (const code of [
        "invalidOption",
        "noTensorInput",
        "notTrained",
        "learningUnsupported",
        "noTrainingImages",
        "preprocessMismatch",
        "inputShapeMismatch",
        "modelMismatch",
        "modelFileInvalid",
        "modelFileVersion",
        "modelNotFound",
        "modelLoadFailed",
        "inferenceFailed",
        "folderNotFound",
        "fileReadFailed",
        "fileWriteFailed",
        "notAnImage",
        "corruptImage",
        "unexpected",
      ]) {
        assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      }
      for (const state of ["loading", "untrained", "learning", "fitting", "ready", "mismatch", "fileError", "error"]) {
        assert.ok(keys.has(`${TYPE}.status.${state}`), state);
      }
    });

    it("has every string the editor asks for", function () {
      for (const key of editorI18nKeys("detector")) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of DetectorNodeDef", function () {
      const defined: EditorKeys<DetectorNodeDef> = {
        name: true,
        setting: true,
        method: true,
        backbone: true,
        layers: true,
        exposure: true,
        neighbourhood: true,
        placeWeights: true,
        coreset: true,
        maxBank: true,
        scoringDim: true,
        trainCount: true,
        trainFolder: true,
        folderPreset: true,
        folderSize: true,
        modelFile: true,
        threads: true,
        workers: true,
        mapSize: true,
        task: true,
        confidence: true,
        iou: true,
        maxDetections: true,
        topK: true,
        classNames: true,
        namesFile: true,
        reconstructionScore: true,
        learning: true,
        recentParts: true,
        keepVersions: true,
        recipeCache: true,
        driftWindow: true,
        driftRatio: true,
        defectWeight: true,
        appearanceWeight: true,
        lookalikes: true,
        queueSize: true,
        overflow: true,
        partIdProperty: true,
        augment: true,
        rotations: true,
        standardize: true,
        imageScore: true,
        templateTolerance: true,
        templateMaxShift: true,
      };
      assert.deepEqual(editorDefaultKeys("detector").sort(), Object.keys(defined).sort());
    });
  });
});
