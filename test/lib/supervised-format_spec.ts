import { strict as assert } from "node:assert";
import { isDefectError } from "../../src/lib/errors";
import { openSessionCount } from "../../src/lib/onnx/session";
import { parseOnnxMetadata, readOnnxMetadata } from "../../src/lib/supervised/metadata";
import type { OpenSupervisedOptions } from "../../src/lib/supervised/model";
import type { SupervisedModel } from "../../src/lib/supervised/types";
import { type ConstantOutput, ModelTracker, constantModel, isUnknownFormat, tempModelDir, tensorOf, withMetadata } from "../fixtures/supervised-models";

const SIZE = 32;
const NAMES = `{0: 'scratch', 1: "dent's", 2: 'oil spot'}`;

describe("supervised: model formats", () => {
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

  describe("ONNX metadata", () => {
    it("reads metadata_props stored after the weights without loading them, from a file and from bytes", async () => {
      const props = { names: NAMES, task: "detect", imgsz: "[32, 32]", "empty value": "" };
      const bytes = withMetadata(constantModel([{ name: "output0", values: new Float32Array(4), dims: [1, 4] }], { ballastValues: 1_000_000 }), props);
      const tmp = await tempModelDir();
      try {
        assert.deepEqual(await readOnnxMetadata(await tmp.write("m.onnx", bytes)), props);
        assert.deepEqual(await parseOnnxMetadata(bytes), props);
        assert.deepEqual(await parseOnnxMetadata(constantModel([{ name: "o", values: new Float32Array(2), dims: [1, 2] }])), {});
        const broken = await tmp.write("broken.onnx", Uint8Array.of(0x0f, 0x01));
        await assert.rejects(
          readOnnxMetadata(broken),
          (e: unknown) => isDefectError(e) && e.code === "modelLoadFailed" && /unexpected wire type 7 at byte 0/.test(e.message),
        );
      } finally {
        await tmp.remove();
      }
    });
  });

  describe("format detection", () => {
    const cases: Array<{ what: string; outputs: ConstantOutput[]; metadata?: Record<string, string>; dynamicAxes?: number[]; task: string; layout: string }> = [
      { what: "[1,C] -> classification", outputs: [{ name: "output0", values: new Float32Array(5), dims: [1, 5] }], task: "classify", layout: "classify" },
      {
        what: "[1,C,1,1] -> classification",
        outputs: [{ name: "out", values: new Float32Array(5), dims: [1, 5, 1, 1] }],
        task: "classify",
        layout: "classify",
      },
      { what: "[1,4+nc,N] -> YOLOv8", outputs: [{ name: "output0", values: new Float32Array(7 * 10), dims: [1, 7, 10] }], task: "detect", layout: "yolov8" },
      {
        what: "[1,4+nc,anchors] dynamic -> YOLOv8",
        outputs: [{ name: "output0", values: new Float32Array(7 * 10), dims: [1, 7, 10], declared: [1, 7, "anchors"] }],
        dynamicAxes: [2],
        task: "detect",
        layout: "yolov8",
      },
      { what: "[1,N,5+nc] -> YOLOv5", outputs: [{ name: "output0", values: new Float32Array(10 * 8), dims: [1, 10, 8] }], task: "detect", layout: "yolov5" },
      {
        what: "[1,300,6] -> end-to-end",
        outputs: [{ name: "output0", values: new Float32Array(300 * 6), dims: [1, 300, 6] }],
        task: "detect",
        layout: "end2end",
      },
      {
        what: "[1,300,6] with one class named -> YOLOv5 single class",
        outputs: [{ name: "output0", values: new Float32Array(300 * 6), dims: [1, 300, 6] }],
        metadata: { names: "{0: 'defect'}", stride: "32" },
        task: "detect",
        layout: "yolov5",
      },
      {
        what: "[1,1200,6] (anchor grid) -> YOLOv5 single class",
        outputs: [{ name: "output0", values: new Float32Array(1200 * 6), dims: [1, 1200, 6] }],
        task: "detect",
        layout: "yolov5",
      },
      {
        what: "end2end metadata -> end-to-end",
        outputs: [{ name: "output0", values: new Float32Array(2000 * 6), dims: [1, 2000, 6] }],
        metadata: { end2end: "True", task: "detect" },
        task: "detect",
        layout: "end2end",
      },
      {
        what: "head [1,4+nc+32,N] + protos [1,32,h,w] -> YOLOv8-seg",
        outputs: [
          { name: "output0", values: new Float32Array(38 * 40), dims: [1, 38, 40] },
          { name: "output1", values: new Float32Array(32 * 8 * 8), dims: [1, 32, 8, 8] },
        ],
        task: "segment",
        layout: "yolov8-seg",
      },
      {
        what: "[1,C,H,W] -> semantic",
        outputs: [{ name: "logits", values: new Float32Array(2 * SIZE * SIZE), dims: [1, 2, SIZE, SIZE] }],
        task: "semantic",
        layout: "semantic",
      },
      {
        what: "metadata task detect on a seg export -> detection of the head",
        outputs: [
          { name: "output0", values: new Float32Array(38 * 40), dims: [1, 38, 40] },
          { name: "output1", values: new Float32Array(32 * 8 * 8), dims: [1, 32, 8, 8] },
        ],
        metadata: { task: "detect", names: "{0: 'a', 1: 'b'}" },
        task: "detect",
        layout: "yolov8",
      },
    ];
    for (const c of cases) {
      it(c.what, async () => {
        const dynamic = c.dynamicAxes !== undefined;
        const bytes = constantModel(
          c.outputs,
          dynamic ? { inputShape: [1, 3, "height", "width"], dynamicAxes: c.dynamicAxes } : { inputShape: [1, 3, SIZE, SIZE] },
        );
        const model = await open(c.metadata === undefined ? bytes : withMetadata(bytes, c.metadata));
        assert.deepEqual([model.task, model.layout], [c.task, c.layout]);
        if (dynamic) assert.deepEqual(model.inputShape, [1, 3, null, null]);
      });
    }

    it("a model of no known format gets an error listing every output's name and shape", async () => {
      const bytes = constantModel([
        { name: "out0", values: new Float32Array(21), dims: [1, 7, 3] },
        { name: "out1", values: new Float32Array(5), dims: [5] },
      ]);
      await assert.rejects(
        open(bytes),
        isUnknownFormat(
          `model "${models.lastKey}" has no known output format: no rule matches these output shapes (outputs: out0 [1,7,3]; out1 [5]; ` +
            "known: classification [1,C]; YOLOv8/11 detection [1,4+nc,N]; YOLOv5 detection [1,N,5+nc]; end-to-end detection [1,N,6]; " +
            "YOLO instance segmentation [1,4+nc+32,N] + [1,32,h,w]; semantic segmentation [1,C,H,W]; set the task to override)",
        ),
      );
    });

    it("a rank-3 output too narrow for any head is named with its shape", async () => {
      const bytes = constantModel([{ name: "out0", values: new Float32Array(21), dims: [1, 7, 3] }]);
      await assert.rejects(
        open(bytes),
        isUnknownFormat(/detection head \[1,7,3\]: 3 values per box leave no class scores after cx, cy, w, h, objectness \(outputs: out0 \[1,7,3\];/),
      );
    });

    it("rank-5 outputs and unsupported Ultralytics tasks are refused", async () => {
      await assert.rejects(
        open(constantModel([{ name: "x", values: new Float32Array(2), dims: [1, 1, 1, 1, 2] }])),
        isUnknownFormat(/no rule matches these output shapes \(outputs: x \[1,1,1,1,2\];/),
      );
      const pose = withMetadata(constantModel([{ name: "output0", values: new Float32Array(56 * 60), dims: [1, 56, 60] }]), { task: "pose" });
      await assert.rejects(open(pose), isUnknownFormat(/its metadata task "pose" is not supported \(supported: classify, detect, segment\)/));
    });

    it("the task option overrides detection, and a task the outputs cannot serve says which shape is missing", async () => {
      const seg = constantModel([
        { name: "output0", values: new Float32Array(38 * 40), dims: [1, 38, 40] },
        { name: "output1", values: new Float32Array(32 * 8 * 8), dims: [1, 32, 8, 8] },
      ]);
      const asDetector = await open(seg, { task: "detect" });
      assert.deepEqual([asDetector.task, asDetector.layout, asDetector.names.length], ["detect", "yolov8", 2]);
      const semantic = constantModel([{ name: "map", values: new Float32Array(2 * 16), dims: [1, 2, 4, 4] }]);
      await assert.rejects(
        open(semantic, { task: "classify" }),
        isUnknownFormat(/for task "classify", no output has the shape of class scores \[1,C\] \(outputs: map \[1,2,4,4\];/),
      );
    });

    it("several candidate outputs need outputName, which then picks one", async () => {
      const bytes = constantModel([
        { name: "pooled", values: new Float32Array(8), dims: [1, 8] },
        { name: "logits", values: Float32Array.of(0.1, 0.7, 0.2), dims: [1, 3] },
      ]);
      await assert.rejects(
        open(bytes, { task: "classify" }),
        isUnknownFormat(/outputs pooled, logits could all be class scores \[1,C\]; name one as the output/),
      );
      const model = await open(bytes, { task: "classify", outputName: "logits" });
      assert.deepEqual(model.names, ["class 0", "class 1", "class 2"]);
      assert.equal((await model.predict(tensorOf(SIZE))).classes[0]?.name, "class 1");
    });
  });
});
