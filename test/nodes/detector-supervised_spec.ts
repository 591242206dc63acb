/**
 * defect-detector with supervised ONNX models (setting "supervised", method "onnx") in Node-RED:
 * YOLO boxes mapped back through a letterbox to original pixels, classifier top classes with
 * names from the editor, a semantic segmentation map on msg.anomalyMap, one shared session for
 * two nodes, and every refusal through Catch. The models are the constant-output fixtures, so
 * every expected box, class and pixel is known by hand.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Node, NodeAPI, NodeMessage } from "node-red";
import type { SinonSpy } from "sinon";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { MessageScoreMap, PreprocessOptions, Tensor, Transform } from "../../src/lib/image/types";
import { openSessionCount } from "../../src/lib/onnx";
import type { Box } from "../../src/lib/supervised/types";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import preprocessNode from "../../src/nodes/preprocess";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { constantTensor } from "../fixtures/anomalib-models";
import { encodePng, makeImage } from "../fixtures/images";
import { buildClassifierModel, classifierReference } from "../fixtures/models";
import {
  catchAll,
  caughtError,
  getNode,
  helper,
  loadCoreNode,
  nextMessage,
  onTab,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";
import {
  SEMANTIC_INSIDE,
  SEMANTIC_OUTSIDE,
  SEMANTIC_SIZE,
  YOLO_SIZE,
  buildSemanticModel,
  buildUnknownFormatModel,
  buildYoloV8Model,
  inSemanticDefect,
} from "../fixtures/supervised-node-models";
import { catalogTranslator } from "../fixtures/catalog";

const TYPE = "defect-detector";
/** A non-square source: letterboxed into 64x64 at scale 0.5 with 16 px of padding above and below. */
const SOURCE_WIDTH = 128;
const SOURCE_HEIGHT = 64;
const LIMITS = { maxPixels: 1e8 };
/** Float32 outputs against hand-written doubles. */
const CLOSE = 1e-5;
const CLASSES = 3;

const translate = catalogTranslator("detector");

const node = (RED: NodeAPI): void => {
  (RED as unknown as { _: typeof translate })._ = translate;
  detectorNode(RED);
};

const EXAMPLE = join(process.cwd(), "examples", "05 - Known defects with a YOLO model.json");
/** The example's export size and model path (relative to the user directory). */
const EXAMPLE_SIZE = 640;

interface Payload {
  score: number;
  method: string;
  task: string;
  class?: string;
  classes: Array<{ class: number; name: string; score: number }>;
  boxes: Box[];
  model: Record<string, unknown>;
}

/** What a node wrote with node.log (the helper spies on Node.prototype.log, shared by all nodes). */
function logLines(target: Node): string[] {
  const spy = target.log as unknown as SinonSpy<[unknown], void>;
  return spy
    .getCalls()
    .filter((call) => call.thisValue === target)
    .map((call) => String(call.args[0]));
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= CLOSE, `${what}: ${actual} vs ${expected}`);
}

/** Same classes and names in the same order, coordinates and scores within float32 rounding. */
function assertBoxes(actual: readonly Box[], expected: readonly Box[]): void {
  assert.deepEqual(
    actual.map((b) => [b.class, b.name]),
    expected.map((b) => [b.class, b.name]),
  );
  actual.forEach((box, i) => {
    const want = expected[i]!;
    for (const key of ["x1", "y1", "x2", "y2", "score"] as const) near(box[key], want[key], `box ${i} ${key}`);
  });
}

describe("defect-detector node with supervised models", function () {
  this.timeout(30_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let yolo = "";
  let classifier = "";
  let semantic = "";
  let unknown = "";
  let letterboxed: { tensor: Tensor; transform: Transform; preprocessing: PreprocessOptions };

  const supervised = (modelFile: string, config: Partial<DetectorNodeDef> = {}): Partial<DetectorNodeDef> => ({
    setting: "supervised",
    method: "onnx",
    modelFile,
    ...config,
  });

  async function load(config: Partial<DetectorNodeDef>, extra: FlowItem[] = []): Promise<void> {
    const det: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([det, { id: "out", type: "helper" }, ...catchAll(), ...extra]));
  }

  const det = () => getNode("det");

  async function send(msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"));
    det().receive(msg);
    return out;
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<string> {
    const caught = nextMessage(getNode("caught"));
    det().receive({ _msgid: `m-${code}`, ...msg });
    const error = caughtError(await caught);
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.equal(error.message, `Error: ${message}`);
    return error.message;
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-supervised-node-"));
    const write = async (name: string, bytes: Uint8Array): Promise<string> => {
      const file = join(dir, name);
      await writeFile(file, bytes);
      return file;
    };
    yolo = await write("yolo.onnx", buildYoloV8Model());
    classifier = await write("classifier.onnx", buildClassifierModel(CLASSES));
    semantic = await write("semantic.onnx", buildSemanticModel());
    unknown = await write("unknown.onnx", buildUnknownFormatModel());
    const options = parsePreprocessOptions({ preset: "yolo", width: YOLO_SIZE, height: YOLO_SIZE });
    const png = await encodePng(makeImage(SOURCE_WIDTH, SOURCE_HEIGHT, 3, (x) => x % 256));
    const { tensor, transform } = await preprocessImage(png, options, LIMITS);
    letterboxed = { tensor, transform, preprocessing: options };
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const yoloMsg = (extra: Record<string, unknown> = {}): NodeMessage => ({
    payload: letterboxed.tensor,
    transform: letterboxed.transform,
    preprocessing: { ...letterboxed.preprocessing },
    ...extra,
  });

  describe("YOLO detection", function () {
    it("sends the boxes left after NMS in original pixels through the letterbox, named from the metadata", async function () {
      assert.deepEqual(
        [letterboxed.transform.scaleX, letterboxed.transform.scaleY, letterboxed.transform.offsetX, letterboxed.transform.offsetY],
        [0.5, 0.5, 0, 16],
        "a 128x64 image letterboxed into 64x64",
      );
      await load(supervised(yolo));
      await waitForStatus(det(), `${TYPE}.status.ready`);
      const out = await send(yoloMsg({ topic: "part-1" }));
      const payload = out.payload as Payload;
      // Tensor boxes A (12,20)-(28,28) and B (40,34)-(48,46): x / 0.5, (y - 16) / 0.5.
      assertBoxes(payload.boxes, [
        { x1: 24, y1: 8, x2: 56, y2: 24, score: 0.9, class: 0, name: "scratch" },
        { x1: 80, y1: 36, x2: 96, y2: 60, score: 0.8, class: 1, name: "dent" },
      ]);
      near(payload.score, 0.9, "score");
      assert.deepEqual(
        { ...payload, score: 0, boxes: [] },
        {
          score: 0,
          method: "onnx",
          task: "detect",
          class: "scratch",
          classes: [],
          boxes: [],
          model: { file: "yolo.onnx", task: "detect", classes: 2 },
        },
      );
      assert.equal("anomalyMap" in out, false, "detection gives no map");
      assert.ok(
        logLines(det()).includes(
          "model yolo.onnx: detect (yolov8), 2 classes (scratch, dent, from metadata); " +
            "suggested preprocessing 64x64 letterbox (pad 114), RGB NCHW, values 0..1",
        ),
        logLines(det()).join("\n"),
      );
      assert.equal(out.topic, "part-1");
      assert.ok((out["timings"] as Record<string, number>)["detectorMs"]! >= 0);
    });

    it("keeps boxes in tensor pixels when the message has no transform, and lets the confidence drop boxes", async function () {
      await load(supervised(yolo, { confidence: "0.85" }));
      const out = await send({ payload: letterboxed.tensor });
      assertBoxes((out.payload as Payload).boxes, [{ x1: 12, y1: 20, x2: 28, y2: 28, score: 0.9, class: 0, name: "scratch" }]);
      await helper.unload();
      await load(supervised(yolo, { confidence: "0.95" }));
      const none = (await send({ payload: letterboxed.tensor })).payload as Payload;
      assert.deepEqual([none.score, none.boxes, "class" in none], [0, [], false]);
    });

    it("refuses a tensor of another size and a stretched image, naming what to change", async function () {
      await load(supervised(yolo));
      await expectCaught(
        { payload: constantTensor(32, 0.5) },
        "inputShapeMismatch",
        "The input does not fit the model: the tensor is NCHW [1,3,32,32] but the model yolo.onnx takes NCHW [1,3,64,64]: " +
          "set the preprocess node to 64x64 letterbox (pad 114), RGB NCHW, values 0..1",
      );
      const stretched = parsePreprocessOptions({ preset: "yolo", width: YOLO_SIZE, height: YOLO_SIZE, resize: "stretch" });
      await expectCaught(
        yoloMsg({ preprocessing: stretched }),
        "preprocessMismatch",
        'The image was preprocessed differently from what the model expects: resize "stretch" (the YOLO model yolo.onnx expects "letterbox": use the preprocess preset yolo)',
      );
      // Mean and std are not the detector's to judge: an ImageNet-normalised letterbox passes.
      const imagenet = parsePreprocessOptions({ preset: "imagenet", width: YOLO_SIZE, height: YOLO_SIZE, resize: "letterbox" });
      assert.equal((await send(yoloMsg({ preprocessing: imagenet }))).payload !== undefined, true);
    });

    it("two detector nodes on one model file share one session", async function () {
      const sessions = openSessionCount();
      const second: FlowItem<DetectorNodeDef> = { id: "det2", type: TYPE, wires: [["out2"]], ...supervised(yolo) };
      await load(supervised(yolo), [second, { id: "out2", type: "helper" }]);
      await waitForStatus(det(), `${TYPE}.status.ready`);
      await waitForStatus(getNode("det2"), `${TYPE}.status.ready`);
      assert.equal(openSessionCount(), sessions + 1);
      const first = await send(yoloMsg());
      const other = nextMessage(getNode("out2"));
      getNode("det2").receive(yoloMsg());
      assert.deepEqual(((await other).payload as Payload).boxes, (first.payload as Payload).boxes);
      await helper.unload();
      assert.equal(openSessionCount(), sessions, "the last node to close releases it");
    });
  });

  describe("classification", function () {
    it("sends the top classes with the editor's names, highest first", async function () {
      await load(supervised(classifier, { classNames: "ok, scratch, dent", topK: "2" }));
      const tensor: Tensor = { data: Float32Array.from({ length: 3 * 4 * 4 }, (_, i) => ((i % 7) - 3) / 3), dims: [1, 3, 4, 4], layout: "NCHW" };
      const probabilities = classifierReference(tensor.data, 4, 4, CLASSES);
      const names = ["ok", "scratch", "dent"];
      const ranked = probabilities
        .map((score, i) => ({ class: i, name: names[i]!, score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 2);
      const payload = (await send({ payload: tensor })).payload as Payload;
      assert.deepEqual(
        payload.classes.map((c) => [c.class, c.name]),
        ranked.map((c) => [c.class, c.name]),
      );
      payload.classes.forEach((c, i) => near(c.score, ranked[i]!.score, `class ${c.name}`));
      near(payload.score, ranked[0]!.score, "score");
      assert.equal(payload.class, ranked[0]!.name);
      assert.deepEqual([payload.task, payload.boxes, payload.model], ["classify", [], { file: "classifier.onnx", task: "classify", classes: 3 }]);
    });

    it("reads the names from a names file when the editor has none", async function () {
      const namesFile = join(dir, "names.json");
      await writeFile(namesFile, JSON.stringify(["good", "chip", "crack"]));
      await load(supervised(classifier, { namesFile, topK: "3" }));
      const payload = (await send({ payload: constantTensor(4, 0.5) })).payload as Payload;
      assert.deepEqual(payload.classes.map((c) => c.name).sort(), ["chip", "crack", "good"]);
    });
  });

  describe("semantic segmentation", function () {
    it("puts the defect map on msg.anomalyMap at model resolution and names the top defect class", async function () {
      await load(supervised(semantic, { classNames: "background,crack", mapSize: "model" }));
      const out = await send({ payload: constantTensor(SEMANTIC_SIZE, 0.5) });
      const payload = out.payload as Payload;
      assert.deepEqual([payload.task, payload.class, payload.boxes, payload.classes.map((c) => c.name)], ["semantic", "crack", [], ["crack"]]);
      near(payload.score, SEMANTIC_INSIDE, "score");
      const map = out["anomalyMap"] as MessageScoreMap;
      assert.deepEqual([map.width, map.height, map.space], [SEMANTIC_SIZE, SEMANTIC_SIZE, "model"]);
      for (let y = 0; y < SEMANTIC_SIZE; y++) {
        for (let x = 0; x < SEMANTIC_SIZE; x++) {
          near(map.data[y * SEMANTIC_SIZE + x]!, inSemanticDefect(x, y) ? SEMANTIC_INSIDE : SEMANTIC_OUTSIDE, `pixel ${x},${y}`);
        }
      }
    });

    it("maps the defect map onto the original image through msg.transform", async function () {
      await load(supervised(semantic));
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
      const map = (await send({ payload: constantTensor(SEMANTIC_SIZE, 0.5), transform }))["anomalyMap"] as MessageScoreMap;
      assert.deepEqual([map.width, map.height, map.space], [16, 16, "original"]);
      // Original pixel (11, 5) lies at tensor (5.75, 2.75), inside the defect, away from its edges.
      near(map.data[5 * 16 + 11]!, SEMANTIC_INSIDE, "inside");
      near(map.data[15 * 16 + 0]!, SEMANTIC_OUTSIDE, "outside");
    });
  });

  describe("refusals through Catch", function () {
    it("learning messages and commands: the model is trained elsewhere", async function () {
      await load(supervised(yolo));
      const text = "Method onnx uses a model trained elsewhere and cannot learn in the flow";
      await expectCaught(yoloMsg({ learn: true }), "learningUnsupported", text);
      await expectCaught({ command: "fit" }, "learningUnsupported", text);
      await expectCaught({ command: "reset" }, "learningUnsupported", text);
      assert.equal(statusTexts(det()).at(-1), `${TYPE}.status.error`);
    });

    it("a missing model file", async function () {
      const missing = join(dir, "missing.onnx");
      await load(supervised(missing));
      await expectCaught(yoloMsg(), "modelNotFound", `Model file not found: ${missing}`);
    });

    it("a model of no known format, naming every output's shape", async function () {
      await load(supervised(unknown));
      const message = await expectCaught({ payload: constantTensor(8, 0) }, "unknownModelFormat");
      assert.ok(message.includes("out0 [1,7,3]") && message.includes("out1 [5]"), message);
    });

    it("a names file that is not there", async function () {
      const missing = join(dir, "no-names.txt");
      await load(supervised(classifier, { namesFile: missing }));
      await expectCaught({ payload: constantTensor(4, 0) }, "fileNotFound", `class names file not found: ${missing}`);
    });

    for (const [what, config, option] of [
      ["a confidence above 1", { confidence: "2" }, "confidence"],
      ["a negative IoU", { iou: "-0.1" }, "iou"],
      ["an unknown task", { task: "pose" }, "task"],
      ["zero max boxes", { maxDetections: "0" }, "maxDetections"],
      ["a fractional top-k", { topK: "1.5" }, "topK"],
      ["an empty class name", { classNames: "a,,b" }, "classNames"],
      ["a method of the other setting", { method: "patchcore" }, "method"],
      ["no model file", { modelFile: "" }, "modelFile"],
    ] as const) {
      it(`rejects ${what} at deploy, naming the option`, async function () {
        await load({ ...supervised(yolo), ...config });
        assert.deepEqual(statusTexts(det()), [`${TYPE}.status.error`]);
        const message = await expectCaught(yoloMsg(), "invalidOption");
        assert.ok(message.startsWith(`Error: Invalid ${option}: `), message);
      });
    }
  });

  describe("example 05 - Known defects with a YOLO model", function () {
    it("lists the boxes of a YOLO export copied to models/defects-yolov8n.onnx, in original pixels", async function () {
      const flow = JSON.parse(readFileSync(EXAMPLE, "utf8")) as Array<FlowItem & { name?: string; modelFile?: string; folder?: string }>;
      const detector = flow.find((n) => n.type === TYPE);
      const source = flow.find((n) => n.type === "defect-image-source");
      assert.ok(detector?.modelFile !== undefined && source?.folder !== undefined);
      await mkdir(join(userDir(), "models"), { recursive: true });
      await writeFile(join(userDir(), detector.modelFile), buildYoloV8Model(EXAMPLE_SIZE));
      const folder = join(userDir(), source.folder);
      await mkdir(folder, { recursive: true });
      // 1280x640 letterboxed into 640x640: scale 0.5, 160 px bands; ten times the 128x64 case above.
      await writeFile(join(folder, "part-1.png"), await encodePng(makeImage(1280, 640, 3, (x, y) => (x + y) % 256)));
      try {
        // The inject button is replaced by a message to the image source, the result debug by a helper.
        const kept = flow
          .filter((n) => !["tab", "comment", "inject", "catch"].includes(n.type) && n.name !== "errors")
          .map((n) => (n.type === "debug" ? { id: n.id, type: "helper" } : n));
        const fn = await loadCoreNode("function/10-function.js");
        await helper.load([imageSourceNode, preprocessNode, node, fn], onTab(kept));
        const result = flow.find((n) => n.type === "debug" && n.name === "result");
        const out = nextMessage(getNode(result!.id), 15_000);
        getNode(source.id).receive({ payload: "go" });
        const payload = (await out).payload as Record<string, unknown>;
        assert.deepEqual(
          { ...payload, detectorMs: 0 },
          {
            file: "part-1.png",
            verdict: "NG",
            top: "scratch",
            score: 0.9,
            boxes: ["scratch 0.90 at 240,80 - 560,240", "dent 0.80 at 800,360 - 960,600"],
            detectorMs: 0,
          },
        );
      } finally {
        await rm(join(userDir(), "models"), { recursive: true, force: true });
        await rm(join(userDir(), "defect-demo"), { recursive: true, force: true });
      }
    });
  });
});
