import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { DefectError, type ErrorCode } from "../../src/lib/errors";
import { validateFeeds } from "../../src/lib/onnx/feeds";
import { GraphBuilder } from "../../src/lib/onnx/graph-builder";
import { type ModelHandle, acquireModel, acquireModelFromBytes, defaultIntraOpThreads, openSessionCount, toOrtOptions } from "../../src/lib/onnx/session";
import { CONV_BIAS, type TempModel, buildAddOneModel, buildClassifierModel, buildConvModel, classifierReference, writeTempModel } from "../fixtures/models";

const FLOAT_TOLERANCE = 1e-5;

function floats(values: number[], dims: number[]): ort.Tensor {
  return new ort.Tensor("float32", Float32Array.from(values), dims);
}

function zeros(dims: number[]): ort.Tensor {
  return new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
}

async function expectDefect(promise: Promise<unknown>, code: ErrorCode, message: string | RegExp): Promise<DefectError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DefectError, `expected DefectError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (typeof message === "string") assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  return caught;
}

describe("onnx sessions", () => {
  let tiny: TempModel;
  const handles: ModelHandle[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  /** Handles taken through this helper are released after each test even when it fails. */
  async function hold(promise: Promise<ModelHandle>): Promise<ModelHandle> {
    const handle = await promise;
    handles.push(handle);
    return handle;
  }

  async function tempModel(bytes: Uint8Array, name?: string): Promise<TempModel> {
    const model = await writeTempModel(bytes, name);
    cleanups.push(model.cleanup);
    return model;
  }

  /** Sessions other suites still hold, so counts here are relative. */
  let base = 0;
  const liveSessions = (): number => openSessionCount() - base;

  beforeEach(async () => {
    base = openSessionCount();
    tiny = await tempModel(buildAddOneModel(), "tiny.onnx");
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.release()));
    await Promise.all(cleanups.splice(0).map((c) => c()));
    assert.equal(liveSessions(), 0, "a test leaked a session");
  });

  describe("loading and caching", () => {
    it("introspects inputs and outputs, symbolic dims included", async () => {
      const model = await hold(acquireModel(tiny.path));
      assert.equal(model.path, tiny.path);
      assert.equal(model.name, "tiny.onnx");
      assert.deepEqual(model.inputs, [{ name: "input", type: "float32", shape: [1, 3, "h", "w"] }]);
      assert.deepEqual(model.outputs, [{ name: "output", type: "float32", shape: [1, 3, "h", "w"] }]);
    });

    it("shows unnamed unknown dims as ?", async () => {
      const g = new GraphBuilder({ name: "dyn" });
      const x = g.input("x", "float32", ["n", 2]);
      const shape = g.input("shape", "int64", [2]);
      g.output(g.op("Reshape", [x, shape]), "y", "float32");
      const model = await hold(acquireModelFromBytes("dyn", g.build()));
      assert.deepEqual(model.outputs, [{ name: "y", type: "float32", shape: ["?", "?"] }]);
    });

    it("runs a model from a file", async () => {
      const model = await hold(acquireModel(tiny.path));
      const out = await model.run({ input: floats([0, 1, 2, -1, 0.5, 10], [1, 3, 1, 2]) });
      assert.deepEqual(Object.keys(out), ["output"]);
      assert.deepEqual(out.output?.dims, [1, 3, 1, 2]);
      assert.deepEqual(Array.from(out.output?.data as Float32Array), [1, 2, 3, 0, 1.5, 11]);
    });

    it("shares one session between concurrent acquires of the same model", async () => {
      const relative = path.relative(process.cwd(), tiny.path);
      const [a, b] = await Promise.all([acquireModel(tiny.path), acquireModel(relative)]);
      assert.equal(liveSessions(), 1);
      await a.release();
      await a.release();
      assert.equal(liveSessions(), 1, "a second release of one handle must not free the shared session");
      const out = await b.run({ input: zeros([1, 3, 1, 1]) });
      assert.deepEqual(Array.from(out.output?.data as Float32Array), [1, 1, 1]);
      await b.release();
      assert.equal(liveSessions(), 0);
    });

    it("keeps separate sessions for separate options, and reloads after the last release", async () => {
      await hold(acquireModel(tiny.path));
      await hold(acquireModel(tiny.path, { intraOpThreads: 2 }));
      assert.equal(liveSessions(), 2);
      await Promise.all(handles.splice(0).map((h) => h.release()));
      assert.equal(liveSessions(), 0);
      const again = await hold(acquireModel(tiny.path));
      assert.equal(liveSessions(), 1);
      assert.equal((await again.run({ input: zeros([1, 3, 2, 2]) })).output?.dims.length, 4);
    });

    it("shares in-memory models by key", async () => {
      const bytes = buildAddOneModel();
      await hold(acquireModelFromBytes("mem", bytes));
      const second = await hold(acquireModelFromBytes("mem", bytes));
      assert.equal(liveSessions(), 1);
      assert.equal(second.path, "mem");
    });

    it("reports a missing model file with its path", async () => {
      const missing = path.join(os.tmpdir(), "no-such-dir-defect", "missing.onnx");
      await expectDefect(acquireModel(missing), "modelNotFound", `model file not found: ${missing}`);
      await expectDefect(acquireModel(os.tmpdir()), "modelNotFound", `model path is not a file: ${os.tmpdir()}`);
      assert.equal(liveSessions(), 0);
    });

    it("reports a file that is not an ONNX model, and does not cache the failure", async () => {
      const garbage = await tempModel(Buffer.from("this is not a protobuf model"), "garbage.onnx");
      const error = await expectDefect(acquireModel(garbage.path), "modelLoadFailed", /protobuf parsing failed/i);
      assert.ok(error.message.startsWith(`cannot load ONNX model ${garbage.path}: `), error.message);
      assert.equal(error.details.path, garbage.path);
      assert.equal(liveSessions(), 0);

      await fs.writeFile(garbage.path, buildAddOneModel());
      const fixed = await hold(acquireModel(garbage.path));
      assert.deepEqual(
        fixed.inputs.map((i) => i.name),
        ["input"],
      );
    });

    it("does not cache a failed in-memory load either", async () => {
      await expectDefect(acquireModelFromBytes("k", Uint8Array.from([1, 2, 3])), "modelLoadFailed", /^cannot load ONNX model k: /);
      await hold(acquireModelFromBytes("k", buildAddOneModel()));
      assert.equal(liveSessions(), 1);
    });

    it("lets idle onnxruntime threads sleep, with or without a thread count", () => {
      // Several sessions run in turn per inspection; spinning pools steal the next one's cores (BENCHMARKS.md).
      for (const options of [{}, { intraOpThreads: 2 }]) {
        assert.deepEqual(toOrtOptions(options).extra, { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } });
      }
      assert.equal(toOrtOptions({ intraOpThreads: 2 }).intraOpNumThreads, 2);
    });

    it("runs one thread a core unless told otherwise, not onnxruntime's own choice", () => {
      // onnxruntime's default ran a single thread on 2-core machines (BENCHMARKS.md).
      assert.equal(toOrtOptions({}).intraOpNumThreads, os.availableParallelism());
      assert.equal(defaultIntraOpThreads(), os.availableParallelism());
    });

    it("validates intraOpThreads", async () => {
      const model = await hold(acquireModel(tiny.path, { intraOpThreads: 1 }));
      assert.equal((await model.run({ input: zeros([1, 3, 1, 1]) })).output?.dims.length, 4);
      for (const bad of [0, 65, 1.5, Number.NaN]) {
        await expectDefect(acquireModel(tiny.path, { intraOpThreads: bad }), "invalidOption", `intraOpThreads must be an integer from 1 to 64 (got ${bad})`);
      }
    });
  });

  describe("running", () => {
    it("rejects a feed of the wrong shape, naming model, input and both shapes", async () => {
      const model = await hold(acquireModel(tiny.path));
      const error = await expectDefect(
        model.run({ input: zeros([1, 4, 32, 32]) }),
        "inputShapeMismatch",
        'model "tiny.onnx" input "input" expects shape [1,3,h,w] (got [1,4,32,32])',
      );
      assert.deepEqual(error.details, { model: "tiny.onnx", input: "input", expected: "[1,3,h,w]", actual: "[1,4,32,32]" });
      await expectDefect(
        model.run({ input: zeros([3, 32, 32]) }),
        "inputShapeMismatch",
        'model "tiny.onnx" input "input" expects shape [1,3,h,w] (got [3,32,32])',
      );
      await expectDefect(
        model.run({ input: zeros([1, 3, 0, 32]) }),
        "inputShapeMismatch",
        'model "tiny.onnx" input "input" expects shape [1,3,h,w] (got [1,3,0,32])',
      );
    });

    it("rejects unknown and missing input names", async () => {
      const model = await hold(acquireModel(tiny.path));
      await expectDefect(model.run({ image: zeros([1, 3, 2, 2]) }), "inputNameMismatch", 'model "tiny.onnx" has no input "image" (its inputs: input)');
      await expectDefect(model.run({}), "inputNameMismatch", 'model "tiny.onnx" needs input "input", which the feeds lack (its inputs: input)');
    });

    it("rejects a feed of the wrong element type", async () => {
      const model = await hold(acquireModel(tiny.path));
      const ints = new ort.Tensor("int32", new Int32Array(12), [1, 3, 2, 2]);
      await expectDefect(model.run({ input: ints }), "inputTypeMismatch", 'model "tiny.onnx" input "input" expects float32 (got int32)');
    });

    it("rejects an unknown output name and a released handle", async () => {
      const model = await acquireModel(tiny.path);
      await expectDefect(
        model.run({ input: zeros([1, 3, 1, 1]) }, ["logits"]),
        "invalidOption",
        'model "tiny.onnx" has no output "logits" (its outputs: output)',
      );
      await model.release();
      await expectDefect(model.run({ input: zeros([1, 3, 1, 1]) }), "inferenceFailed", 'model "tiny.onnx" was already released');
    });

    it("wraps onnxruntime errors during a run as inferenceFailed", async () => {
      const g = new GraphBuilder({ name: "broadcast" });
      g.output(g.op("Add", [g.input("a", "float32", ["n"]), g.input("b", "float32", ["m"])]), "sum", "float32");
      const model = await hold(acquireModelFromBytes("broadcast", g.build()));
      await expectDefect(model.run({ a: zeros([2]), b: zeros([3]) }), "inferenceFailed", /^model "broadcast" failed to run: .+/);
    });

    it("lets a run in flight finish when the last holder releases", async () => {
      const model = await acquireModel(tiny.path);
      const running = model.run({ input: floats([1, 2, 3], [1, 3, 1, 1]) });
      const released = model.release();
      const out = await running;
      await released;
      assert.deepEqual(Array.from(out.output?.data as Float32Array), [2, 3, 4]);
      assert.equal(liveSessions(), 0);
    });

    it("runs the conv fixture with its known kernel", async () => {
      const conv = await tempModel(buildConvModel(), "conv.onnx");
      const model = await hold(acquireModel(conv.path));
      const out = await model.run({ input: floats(new Array<number>(16).fill(2), [1, 1, 4, 4]) });
      // Constant 2: the Laplacian is 0 inside; edges miss one neighbour (-2), corners two (-4).
      const b = CONV_BIAS;
      const expected = [-4, -2, -2, -4, -2, 0, 0, -2, -2, 0, 0, -2, -4, -2, -2, -4].map((v) => v + b);
      assert.deepEqual(Array.from(out.output?.data as Float32Array), expected);
    });

    it("runs the classifier fixture like its plain-TS reference", async () => {
      const numClasses = 3;
      const model = await hold(acquireModelFromBytes("classifier", buildClassifierModel(numClasses)));
      assert.deepEqual(model.outputs, [{ name: "probabilities", type: "float32", shape: [1, numClasses] }]);
      const [height, width] = [2, 3];
      const input = Float32Array.from({ length: 3 * height * width }, (_, i) => Math.sin(i) * 2);
      const out = await model.run({ input: new ort.Tensor("float32", input, [1, 3, height, width]) });
      const actual = Array.from(out.probabilities?.data as Float32Array);
      const expected = classifierReference(input, height, width, numClasses);
      actual.forEach((p, i) => assert.ok(Math.abs(p - (expected[i] ?? NaN)) < FLOAT_TOLERANCE, `class ${i}: ${p} vs ${expected[i]}`));
      assert.ok(Math.abs(actual.reduce((a, p) => a + p, 0) - 1) < FLOAT_TOLERANCE);
      assert.ok(new Set(actual.map((p) => p.toFixed(4))).size === numClasses, `classes should differ: ${actual.join(", ")}`);
    });
  });

  describe("validateFeeds", () => {
    const specs = [
      { name: "image", type: "float32", shape: [1, 3, "height", "width"] },
      { name: "scale", type: "float32", shape: [] },
    ];

    it("accepts any positive size for symbolic dims and anything for an undeclared shape", () => {
      validateFeeds("m.onnx", specs, { image: { type: "float32", dims: [1, 3, 480, 640] }, scale: { type: "float32", dims: [7, 7] } });
    });

    it("reports the first problem with model and input named", () => {
      assert.throws(() => validateFeeds("m.onnx", specs, { image: { type: "float32", dims: [1, 3, 480, 640] } }), {
        code: "inputNameMismatch",
        message: 'model "m.onnx" needs input "scale", which the feeds lack (its inputs: image, scale)',
      });
      assert.throws(() => validateFeeds("m.onnx", specs, { image: { type: "float32", dims: [1, 1, 480, 640] }, scale: { type: "float32", dims: [] } }), {
        code: "inputShapeMismatch",
        message: 'model "m.onnx" input "image" expects shape [1,3,height,width] (got [1,1,480,640])',
      });
    });
  });
});
