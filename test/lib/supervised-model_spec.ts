import { strict as assert } from "node:assert";
import { isDefectError } from "../../src/lib/errors";
import { DEFAULT_MAX_PIXELS } from "../../src/lib/image/decode";
import { preprocessImage } from "../../src/lib/image/preprocess";
import type { Tensor } from "../../src/lib/image/types";
import { openSessionCount } from "../../src/lib/onnx/session";
import { type OpenSupervisedOptions, openSupervisedModel } from "../../src/lib/supervised/model";
import type { Box, SupervisedModel } from "../../src/lib/supervised/types";
import { boxImage, encodePng } from "../fixtures/images";
import {
  ModelTracker,
  type TestBox,
  boxFinderModel,
  channelMeanClassifier,
  constantModel,
  endToEndHead,
  tempModelDir,
  tensorOf,
  v5Head,
  v8Head,
  withMetadata,
} from "../fixtures/supervised-models";

const SIZE = 32;
const NC = 3;
const ANCHORS = 10;
const NAMES = `{0: 'scratch', 1: "dent's", 2: 'oil spot'}`;
const BOXES: TestBox[] = [
  { x1: 10, y1: 10, x2: 20, y2: 20, score: 0.9, cls: 0 },
  // overlaps the first (IoU 90 / 120 = 0.75), same class, lower: suppressed
  { x1: 11, y1: 10, x2: 22, y2: 20, score: 0.8, cls: 0 },
  // the same box as another class: kept
  { x1: 11, y1: 10, x2: 22, y2: 20, score: 0.7, cls: 1 },
  // reaches past the tensor: clipped to 32
  { x1: 24, y1: 2, x2: 40, y2: 8, score: 0.6, cls: 2 },
  { x1: 0, y1: 0, x2: 5, y2: 5, score: 0.1, cls: 2 },
];
const EXPECTED: Array<[number, number, number, number, number, string]> = [
  [10, 10, 20, 20, 0.9, "scratch"],
  [11, 10, 22, 20, 0.7, "dent's"],
  [24, 2, 32, 8, 0.6, "oil spot"],
];

function rounded(boxes: readonly Box[]): Array<[number, number, number, number, number, string]> {
  const r = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;
  return boxes.map((b) => [r(b.x1, 3), r(b.y1, 3), r(b.x2, 3), r(b.y2, 3), r(b.score, 3), b.name]);
}

describe("supervised: models", () => {
  const models = new ModelTracker();
  const open = (bytes: Uint8Array, options?: OpenSupervisedOptions): Promise<SupervisedModel> => models.open(bytes, options);
  let baseline = 0;
  beforeEach(() => {
    baseline = openSessionCount();
  });
  afterEach(async () => {
    await models.releaseAll();
    assert.equal(openSessionCount(), baseline, "every session opened by the test is released");
  });

  describe("detection", () => {
    const withNames = (bytes: Uint8Array): Uint8Array => withMetadata(bytes, { names: NAMES, stride: "32" });

    it("YOLOv8: decoded boxes, classes and names equal the known ones after NMS, clipped to the tensor", async () => {
      const model = await open(withNames(constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }])));
      const result = await model.predict(tensorOf(SIZE));
      assert.deepEqual(rounded(result.boxes), EXPECTED);
      assert.deepEqual(
        result.boxes.map((b) => b.class),
        [0, 1, 2],
      );
      assert.equal(result.task, "detect");
      assert.ok(Math.abs(result.score - 0.9) < 1e-6);
      assert.deepEqual([result.classes, result.masks, result.map], [[], [], null]);
      assert.equal(model.namesSource, "metadata");
    });

    it("YOLOv5: the same boxes from objectness x class scores", async () => {
      const boxes = BOXES.map((b) => ({ ...b, objectness: 1 }));
      const model = await open(withNames(constantModel([{ name: "output0", values: v5Head(boxes, NC, 12), dims: [1, 12, 5 + NC] }])));
      assert.deepEqual(rounded((await model.predict(tensorOf(SIZE))).boxes), EXPECTED);
      assert.equal(model.layout, "yolov5");
    });

    it("end-to-end: rows taken as they are (NMS was done in the graph), best first, capped at maxDetections", async () => {
      const rows = [BOXES[2]!, BOXES[0]!, BOXES[3]!, BOXES[4]!];
      const model = await open(withNames(constantModel([{ name: "output0", values: endToEndHead(rows, 300), dims: [1, 300, 6] }])), { maxDetections: 2 });
      assert.deepEqual(rounded((await model.predict(tensorOf(SIZE))).boxes), [EXPECTED[0], EXPECTED[1]]);
    });

    it("confidence, iou and maxDetections options apply", async () => {
      const bytes = withNames(constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }]));
      assert.deepEqual(rounded((await (await open(bytes, { confidence: 0.65 })).predict(tensorOf(SIZE))).boxes), EXPECTED.slice(0, 2));
      // IoU exactly 0.75: suppressed only above the threshold
      assert.equal((await (await open(bytes, { iou: 0.75 })).predict(tensorOf(SIZE))).boxes.length, 4);
      assert.equal((await (await open(bytes, { iou: 0.74 })).predict(tensorOf(SIZE))).boxes.length, 3);
      assert.equal((await (await open(bytes, { maxDetections: 1 })).predict(tensorOf(SIZE))).boxes.length, 1);
      await assert.rejects(
        open(bytes, { confidence: 2 }),
        (e: unknown) => isDefectError(e) && e.code === "invalidOption" && e.message === 'Option "confidence" must be a number from 0 to 1, got 2.',
      );
    });

    it("class names: the editor list wins over the names file, which wins over the metadata", async () => {
      const bytes = withNames(constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }]));
      const tmp = await tempModelDir();
      try {
        const file = await tmp.write("names.json", '["f-a", "f-b", "f-c"]');
        assert.deepEqual((await open(bytes, { namesFile: file })).names, ["f-a", "f-b", "f-c"]);
        const editor = await open(bytes, { namesFile: file, classNames: ["e-a", "e-b"] });
        assert.deepEqual(
          [editor.names, editor.namesSource, editor.warnings],
          [["e-a", "e-b", "class 2"], "editor", ["the editor class names list 2 names but the model has 3 classes"]],
        );
        assert.deepEqual(
          rounded((await editor.predict(tensorOf(SIZE))).boxes).map((b) => b[5]),
          ["e-a", "e-b", "class 2"],
        );
        await assert.rejects(open(bytes, { namesFile: `${tmp.dir}/missing.txt` }), (e: unknown) => isDefectError(e) && e.code === "fileNotFound");
      } finally {
        await tmp.remove();
      }
    });

    it("unreadable metadata names fall back to class N with a warning", async () => {
      const bytes = withMetadata(constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }]), { names: "{0: 'a" });
      const model = await open(bytes);
      assert.deepEqual(model.names, ["class 0", "class 1", "class 2"]);
      assert.equal(model.warnings.length, 1);
      assert.match(model.warnings[0]!, /class names from ONNX metadata "names" cannot be read: .*; classes are named "class N"/);
    });

    it("a head with symbolic sizes is resolved from the first result", async () => {
      const bytes = constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS], declared: [1, "channels", "anchors"] }], {
        inputShape: [1, 3, "height", "width"],
        dynamicAxes: [1, 2],
      });
      const model = await open(bytes);
      assert.equal(model.layout, "pending");
      const result = await model.predict(tensorOf(SIZE));
      assert.equal(model.layout, "yolov8");
      assert.deepEqual(
        result.boxes.map((b) => b.name),
        ["class 0", "class 1", "class 2"],
      );
    });

    for (const image of [
      { width: 640, height: 480, rect: { x: 100, y: 50, width: 300, height: 250 } },
      { width: 1000, height: 600, rect: { x: 250, y: 150, width: 300, height: 250 } },
      { width: 500, height: 1000, rect: { x: 50, y: 700, width: 400, height: 200 } },
    ]) {
      it(`letterbox: a box found in the tensor lands on the known rectangle of a ${image.width}x${image.height} image within 1 px`, async () => {
        const model = await open(withMetadata(boxFinderModel(640, 2, 1, 0.8, 16), { names: "{0: 'ok', 1: 'defect'}", stride: "32", task: "detect" }));
        assert.deepEqual(
          {
            resize: model.preprocess.resize,
            padValue: model.preprocess.padValue,
            size: [model.preprocess.width, model.preprocess.height],
            mean: model.preprocess.mean,
            std: model.preprocess.std,
          },
          { resize: "letterbox", padValue: 114, size: [640, 640], mean: [0, 0, 0], std: [1, 1, 1] },
        );
        const png = await encodePng(boxImage(image.width, image.height, image.rect, [255, 255, 255], [0, 0, 0]));
        const { tensor, transform } = await preprocessImage(png, model.preprocess, { maxPixels: DEFAULT_MAX_PIXELS });
        const result = await model.predict(tensor, transform);
        assert.equal(result.boxes.length, 1);
        const box = result.boxes[0]!;
        const expected = { x1: image.rect.x, y1: image.rect.y, x2: image.rect.x + image.rect.width, y2: image.rect.y + image.rect.height };
        for (const key of ["x1", "y1", "x2", "y2"] as const) {
          assert.ok(Math.abs(box[key] - expected[key]) <= 1, `${key}: ${box[key]} vs ${expected[key]}`);
        }
        assert.deepEqual([box.name, box.class, Math.round(box.score * 100) / 100], ["defect", 1, 0.8]);
      });
    }

    it("boxes mapped through a letterbox by hand: 640x480 (pad 80) and 1280x720 (scale 0.5, pad 140)", async () => {
      // Tensor-pixel boxes from a constant head, original-pixel boxes worked out by hand.
      const head: TestBox[] = [
        { x1: 100, y1: 180, x2: 200, y2: 280, score: 0.9, cls: 0 },
        // half in the top padding: clipped to y = 0
        { x1: 300, y1: 40, x2: 400, y2: 120, score: 0.8, cls: 1 },
        // wholly in the bottom padding: dropped
        { x1: 10, y1: 600, x2: 50, y2: 630, score: 0.7, cls: 0 },
      ];
      const model = await open(constantModel([{ name: "output0", values: v8Head(head, 2, 8), dims: [1, 6, 8] }], { inputShape: [1, 3, 640, 640] }));
      const wide = {
        source: { width: 640, height: 480 },
        roi: { x: 0, y: 0, width: 640, height: 480 },
        scaleX: 1,
        scaleY: 1,
        offsetX: 0,
        offsetY: 80,
        width: 640,
        height: 640,
      };
      assert.deepEqual(rounded((await model.predict(tensorOf(640), wide)).boxes), [
        [100, 100, 200, 200, 0.9, "class 0"],
        [300, 0, 400, 40, 0.8, "class 1"],
      ]);
      const hd = {
        source: { width: 1280, height: 720 },
        roi: { x: 0, y: 0, width: 1280, height: 720 },
        scaleX: 0.5,
        scaleY: 0.5,
        offsetX: 0,
        offsetY: 140,
        width: 640,
        height: 640,
      };
      // x / 0.5, (y - 140) / 0.5; the second box lies wholly in the top padding now
      assert.deepEqual(rounded((await model.predict(tensorOf(640), hd)).boxes), [[200, 80, 400, 280, 0.9, "class 0"]]);
    });
  });

  describe("classification", () => {
    it("logits get a softmax; top-k carries names from the metadata", async () => {
      const bytes = withMetadata(channelMeanClassifier("float32"), { names: "{0: 'good', 1: 'scratch', 2: 'dent'}" });
      const model = await open(bytes, { topK: 2 });
      const result = await model.predict(tensorOf(8, [0.2, 3.0, 1.0]));
      const e = [Math.exp(0.2), Math.exp(3), Math.exp(1)];
      const sum = e[0]! + e[1]! + e[2]!;
      assert.deepEqual(
        result.classes.map((c) => c.name),
        ["scratch", "dent"],
      );
      assert.ok(Math.abs(result.classes[0]!.score - e[1]! / sum) < 1e-6);
      assert.ok(Math.abs(result.classes[1]!.score - e[2]! / sum) < 1e-6);
      assert.equal(result.score, result.classes[0]!.score);
      assert.deepEqual([result.task, result.boxes, result.map], ["classify", [], null]);
    });

    it("probabilities (a graph ending in softmax) are reported unchanged", async () => {
      const model = await open(channelMeanClassifier("float32"));
      const result = await model.predict(tensorOf(8, [0.25, 0.15, 0.6]));
      assert.deepEqual(
        result.classes.map((c) => [c.class, Math.round(c.score * 1e6) / 1e6]),
        [
          [2, 0.6],
          [0, 0.25],
          [1, 0.15],
        ],
      );
    });

    it("a float16 model runs: input and output converted from and to half precision", async () => {
      const model = await open(channelMeanClassifier("float16"));
      assert.equal(model.inputType, "float16");
      const result = await model.predict(tensorOf(8, [0.2, 3.0, 1.0]));
      const e = [Math.exp(0.2), Math.exp(3), Math.exp(1)];
      const sum = e[0]! + e[1]! + e[2]!;
      assert.equal(result.classes[0]?.class, 1);
      // half precision keeps about 3 significant digits of each logit
      assert.ok(Math.abs(result.classes[0]!.score - e[1]! / sum) < 2e-3, String(result.classes[0]!.score));
    });

    it("suggests stretch + ImageNet at 224 for a classifier of any size, centre-crop without mean/std for Ultralytics classify", async () => {
      const plain = await open(constantModel([{ name: "out", values: Float32Array.of(0.5, 0.5), dims: [1, 2] }], { inputShape: [1, 3, "h", "w"] }));
      assert.deepEqual(
        [plain.preprocess.width, plain.preprocess.height, plain.preprocess.resize, plain.preprocess.mean, plain.preprocess.std, plain.inputShape],
        [224, 224, "stretch", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], [1, 3, null, null]],
      );
      const yolo = await open(
        withMetadata(constantModel([{ name: "out", values: Float32Array.of(0.5, 0.5), dims: [1, 2] }], { inputShape: [1, 3, "h", "w"] }), {
          task: "classify",
          imgsz: "[96, 128]",
          stride: "32",
        }),
      );
      assert.deepEqual([yolo.preprocess.width, yolo.preprocess.height, yolo.preprocess.resize, yolo.preprocess.mean], [128, 96, "center-crop", [0, 0, 0]]);
    });
  });

  describe("float16 detection", () => {
    it("decodes the known boxes from a half-precision head", async () => {
      const bytes = withMetadata(
        constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }], { precision: "float16" }),
        { names: NAMES },
      );
      const model = await open(bytes);
      assert.equal(model.inputType, "float16");
      const got = rounded((await model.predict(tensorOf(SIZE))).boxes);
      // 0.9, 0.7 and 0.6 are not halves: 0.8999, 0.7002 and 0.6001 in float16
      assert.deepEqual(
        got.map((b) => b.slice(0, 4)),
        EXPECTED.map((b) => b.slice(0, 4)),
      );
      got.forEach((b, i) => assert.ok(Math.abs(b[4] - EXPECTED[i]![4]) < 1e-3));
    });
  });

  describe("segmentation", () => {
    it("semantic [1,2,H,W] logits give a defect map at tensor size", async () => {
      const values = new Float32Array(2 * SIZE * SIZE);
      // channel 1 (defect) wins in the top-left 4x4 block
      for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) values[SIZE * SIZE + y * SIZE + x] = x < 4 && y < 4 ? 5 : -5;
      const model = await open(constantModel([{ name: "logits", values, dims: [1, 2, SIZE, SIZE] }]), { classNames: ["good", "defect"] });
      const result = await model.predict(tensorOf(SIZE));
      assert.equal(result.task, "semantic");
      assert.deepEqual([result.map?.width, result.map?.height], [SIZE, SIZE]);
      assert.ok(result.map!.data[0]! > 0.99 && result.map!.data[SIZE * SIZE - 1]! < 0.01);
      assert.ok(result.score > 0.99);
      assert.equal(result.classes[0]?.name, "defect");
    });

    it("a YOLOv8-seg export runs through instance segmentation: one mask per kept box", async () => {
      const nc = 2;
      const n = 48;
      const head = new Float32Array((4 + nc + 32) * n);
      head.set(v8Head([{ x1: 4, y1: 4, x2: 20, y2: 20, score: 0.9, cls: 1 }], nc, n));
      // coefficient 0 of anchor 0 = 1, prototype 0 = +1 everywhere: the mask covers the whole box
      head[(4 + nc) * n] = 1;
      const protos = new Float32Array(32 * 8 * 8);
      protos.fill(1, 0, 64);
      const model = await open(
        constantModel([
          { name: "output0", values: head, dims: [1, 4 + nc + 32, n] },
          { name: "output1", values: protos, dims: [1, 32, 8, 8] },
        ]),
      );
      const result = await model.predict(tensorOf(SIZE));
      assert.equal(result.task, "segment");
      assert.deepEqual(rounded(result.boxes), [[4, 4, 20, 20, 0.9, "class 1"]]);
      assert.equal(result.masks.length, 1);
      assert.equal(
        result.masks[0]!.mask.reduce((a, b) => a + b, 0),
        16 * 16,
      );
    });
  });

  describe("sessions and inputs", () => {
    it("two models on one file share one session", async () => {
      const tmp = await tempModelDir();
      try {
        const file = await tmp.write("shared.onnx", constantModel([{ name: "output0", values: v8Head(BOXES, NC, ANCHORS), dims: [1, 4 + NC, ANCHORS] }]));
        const a = await openSupervisedModel(file);
        const b = await openSupervisedModel(file, { confidence: 0.5 });
        assert.equal(openSessionCount(), baseline + 1);
        assert.equal((await b.predict(tensorOf(SIZE))).boxes.length, 3);
        await a.release();
        assert.equal(openSessionCount(), baseline + 1);
        await b.release();
      } finally {
        await tmp.remove();
      }
    });

    it("a missing file is modelNotFound; a tensor of the wrong layout is refused with the expected one", async () => {
      await assert.rejects(openSupervisedModel("/nonexistent/model.onnx"), (e: unknown) => isDefectError(e) && e.code === "modelNotFound");
      const model = await open(constantModel([{ name: "output0", values: new Float32Array(5), dims: [1, 5] }]));
      const nhwc: Tensor = { data: new Float32Array(3 * SIZE * SIZE), dims: [1, SIZE, SIZE, 3], layout: "NHWC" };
      await assert.rejects(
        model.predict(nhwc),
        (e: unknown) => isDefectError(e) && e.code === "inputShapeMismatch" && /expects one image NCHW \[1,3,H,W\] \(got NHWC \[1,32,32,3\]\)/.test(e.message),
      );
    });
  });
});
