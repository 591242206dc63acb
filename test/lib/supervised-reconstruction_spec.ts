/**
 * Reconstruction models (autoencoders): when "auto" refuses a same-shape output as ambiguous and the
 * task option decides, which shapes are refused, and the error map and score of graphs whose
 * difference from their input is known by hand.
 */
import { strict as assert } from "node:assert";
import { isDefectError } from "../../src/lib/errors";
import type { Tensor } from "../../src/lib/image/types";
import { openSessionCount } from "../../src/lib/onnx/session";
import type { OpenSupervisedOptions } from "../../src/lib/supervised/model";
import { decodeReconstruction } from "../../src/lib/supervised/reconstruction";
import type { SupervisedModel } from "../../src/lib/supervised/types";
import {
  croppingAutoencoder,
  dimmingAutoencoder,
  identityAutoencoder,
  inRect,
  maskingAutoencoder,
  nanAutoencoder,
  negatingModel,
  offsetAutoencoder,
  rampTensor,
  softmaxSegmenter,
} from "../fixtures/reconstruction-models";
import { ModelTracker, constantModel, isUnknownFormat, tensorOf } from "../fixtures/supervised-models";

const SIZE = 8;
/** Float32 sums against hand-written doubles. */
const CLOSE = 1e-6;

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= CLOSE, `${what}: ${actual} vs ${expected}`);
}

function isCode(code: string, message: RegExp): (e: unknown) => boolean {
  return (e: unknown): boolean => {
    assert.ok(isDefectError(e), `expected a DefectError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

/** Distinct values in 0..1 at every channel and pixel. */
const ramp = (channels: number): Tensor => rampTensor(SIZE, channels, (c, x, y) => (c * 17 + x * 5 + y * 3) / 100);

describe("supervised: reconstruction models", () => {
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

  describe("format detection", () => {
    const rgb = identityAutoencoder({ shape: [1, 3, SIZE, SIZE] });

    it("auto refuses an output of the input's shape that its values do not settle, naming both readings and the task that does", async () => {
      await assert.rejects(
        open(negatingModel({ shape: [1, 3, SIZE, SIZE] })),
        isUnknownFormat(
          `model "${models.lastKey}" is ambiguous: output reconstruction [1,3,8,8] has the shape of its input "input" [1,3,8,8], so it may be an autoencoder ` +
            "(reconstruction: the defect map is the error between output and input) or a semantic segmentation with 3 classes " +
            '(the defect map is 1 minus the background probability); set the task to "reconstruction" or "semantic"',
        ),
      );
    });

    it("is as ambiguous on gray, channel-last and dynamic-size inputs", async () => {
      for (const spec of [
        { shape: [1, 1, SIZE, SIZE] },
        { shape: [1, SIZE, SIZE, 3], layout: "NHWC" as const },
        { shape: [1, 3, "h", "w"] },
        { shape: ["batch", 3, SIZE, SIZE] },
      ]) {
        await assert.rejects(
          open(negatingModel(spec)),
          isUnknownFormat(/is ambiguous: .*set the task to "reconstruction" or "semantic"$/),
          JSON.stringify(spec),
        );
      }
    });

    it("auto reads a model that gives a test pattern back as an autoencoder, and says so", async () => {
      const specs = [
        { shape: [1, 3, SIZE, SIZE] },
        { shape: [1, 1, SIZE, SIZE] },
        { shape: [1, SIZE, SIZE, 3], layout: "NHWC" as const },
        { shape: [1, 3, "h", "w"] },
        { shape: ["batch", 3, SIZE, SIZE] },
        { shape: [1, 3, SIZE, SIZE], type: "uint8" as const },
        { shape: [1, 3, SIZE, SIZE], type: "float16" as const },
      ];
      for (const spec of specs) {
        const model = await open(identityAutoencoder(spec));
        assert.equal(model.task, "reconstruction", JSON.stringify(spec));
        assert.ok(
          model.warnings.some((w) => /output "reconstruction" has its input's shape and gave a test pattern back .*set the task to say otherwise/.test(w)),
          model.warnings.join("; "),
        );
      }
      // Not only the identity: a reproduction with less contrast still follows its input.
      assert.equal((await open(dimmingAutoencoder({ shape: [1, 3, SIZE, SIZE] }))).task, "reconstruction");
    });

    it("auto reads class probabilities that sum to 1 at every pixel as semantic segmentation", async () => {
      for (const spec of [{ shape: [1, 3, SIZE, SIZE] }, { shape: [1, SIZE, SIZE, 3], layout: "NHWC" as const }]) {
        const model = await open(softmaxSegmenter(spec));
        assert.equal(model.task, "semantic", JSON.stringify(spec));
        assert.ok(model.warnings.some((w) => /gave class probabilities for a test pattern: read as semantic segmentation/.test(w)));
      }
    });

    it("the task resolves it either way", async () => {
      const asReconstruction = await open(rgb, { task: "reconstruction" });
      assert.deepEqual([asReconstruction.task, asReconstruction.layout, asReconstruction.names], ["reconstruction", "reconstruction", []]);
      const asSemantic = await open(rgb, { task: "semantic" });
      assert.deepEqual([asSemantic.task, asSemantic.layout, asSemantic.names.length], ["semantic", "semantic", 3]);
    });

    it("maps of another channel count or size stay semantic under auto", async () => {
      for (const dims of [
        [1, 2, SIZE, SIZE],
        [1, 3, SIZE / 2, SIZE / 2],
        [1, 1, SIZE, SIZE],
      ]) {
        const model = await open(
          constantModel([{ name: "map", values: new Float32Array(dims.reduce((a, b) => a * b)), dims }], { inputShape: [1, 3, SIZE, SIZE] }),
        );
        assert.equal(model.task, "semantic", JSON.stringify(dims));
      }
    });

    it("task reconstruction refuses outputs that cannot have the input's shape", async () => {
      for (const dims of [
        [1, 2, SIZE, SIZE],
        [1, 3, SIZE, SIZE / 2],
        [1, 3 * SIZE * SIZE],
      ]) {
        const bytes = constantModel([{ name: "out", values: new Float32Array(dims.reduce((a, b) => a * b)), dims }], { inputShape: [1, 3, SIZE, SIZE] });
        await assert.rejects(
          open(bytes, { task: "reconstruction" }),
          isUnknownFormat(/for task "reconstruction", no output has the shape of the input \[1,3,8,8\] \(outputs: out \[/),
          JSON.stringify(dims),
        );
      }
    });

    it("suggests a stretch to values 0..1 at the model's size, as autoencoders are usually trained", async () => {
      const model = await open(rgb, { task: "reconstruction" });
      const p = model.preprocess;
      assert.deepEqual([p.width, p.height, p.resize, p.color, p.layout, p.mean, p.std], [SIZE, SIZE, "stretch", "rgb", "NCHW", [0, 0, 0], [1, 1, 1]]);
    });

    it("refuses an unknown score rule", async () => {
      await assert.rejects(
        open(rgb, { task: "reconstruction", reconstructionScore: "median" as "max" }),
        isCode("invalidOption", /Option "reconstructionScore" must be one of max, mean, got "median"/),
      );
    });
  });

  describe("error map and score", () => {
    it("a perfect reconstruction scores 0 everywhere, at the tensor's size", async () => {
      const model = await open(identityAutoencoder({ shape: [1, 3, SIZE, SIZE] }), { task: "reconstruction" });
      const result = await model.predict(ramp(3));
      assert.deepEqual([result.task, result.score, result.classes, result.boxes, result.masks], ["reconstruction", 0, [], [], []]);
      assert.deepEqual([result.map?.width, result.map?.height], [SIZE, SIZE]);
      assert.ok(result.map?.data.every((v) => v === 0));
    });

    it("a constant offset a channel gives the mean of the squared offsets at every pixel (NCHW and NHWC)", async () => {
      const offsets = [0.1, 0.2, 0.3];
      const expected = (0.01 + 0.04 + 0.09) / 3;
      const nchw = await open(offsetAutoencoder({ shape: [1, 3, SIZE, SIZE] }, offsets), { task: "reconstruction" });
      const nhwc = await open(offsetAutoencoder({ shape: [1, SIZE, SIZE, 3], layout: "NHWC" }, offsets), { task: "reconstruction" });
      const planar = ramp(3);
      const interleaved: Tensor = { data: new Float32Array(planar.data.length), dims: [1, SIZE, SIZE, 3], layout: "NHWC" };
      for (let p = 0; p < SIZE * SIZE; p++) for (let c = 0; c < 3; c++) interleaved.data[p * 3 + c] = planar.data[c * SIZE * SIZE + p]!;
      for (const [model, tensor] of [
        [nchw, planar],
        [nhwc, interleaved],
      ] as const) {
        const result = await model.predict(tensor);
        near(result.score, expected, `${tensor.layout} score`);
        result.map?.data.forEach((v, i) => near(v, expected, `${tensor.layout} pixel ${i}`));
      }
    });

    it("a zeroed rectangle: the error is the input's mean square there and 0 elsewhere; score max or mean", async () => {
      const rect = { x0: 2, x1: 5, y0: 1, y1: 3 };
      const bytes = maskingAutoencoder(SIZE, 3, rect);
      const tensor = ramp(3);
      const expected = (x: number, y: number): number => {
        if (!inRect(rect, x, y)) return 0;
        let sum = 0;
        for (let c = 0; c < 3; c++) sum += tensor.data[c * SIZE * SIZE + y * SIZE + x]! ** 2;
        return sum / 3;
      };
      const byMax = await (await open(bytes, { task: "reconstruction" })).predict(tensor);
      let max = 0;
      let total = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          near(byMax.map!.data[y * SIZE + x]!, expected(x, y), `pixel ${x},${y}`);
          max = Math.max(max, expected(x, y));
          total += expected(x, y);
        }
      }
      // The rectangle's bottom-right corner (4, 2) has the largest values.
      near(byMax.score, expected(4, 2), "max");
      near(byMax.score, max, "max");
      const byMean = await (await open(bytes, { task: "reconstruction", reconstructionScore: "mean" })).predict(tensor);
      near(byMean.score, total / (SIZE * SIZE), "mean");
    });

    it("compares with what the graph was fed: float16 and uint8 identities score exactly 0", async () => {
      const tensor = rampTensor(SIZE, 3, (c, x, y) => 10 * c + x + y / 3 + 0.1);
      for (const type of ["float16", "uint8"] as const) {
        const model = await open(identityAutoencoder({ shape: [1, 3, SIZE, SIZE], type }), { task: "reconstruction" });
        assert.equal(model.inputType, type);
        assert.equal((await model.predict(tensor)).score, 0, type);
      }
    });
  });

  describe("bad outputs", () => {
    it("NaN in the output is refused, naming the pixel", async () => {
      const model = await open(nanAutoencoder(SIZE, { x: 5, y: 6, channel: 1 }), { task: "reconstruction" });
      await assert.rejects(
        model.predict(tensorOf(SIZE, [0.5, 0.5, 0.5])),
        isCode("inferenceFailed", /^model "supervised-test-\d+": no reconstruction error can be computed: its output holds NaN at pixel \(5, 6\)$/),
      );
    });

    it("an output that turns out smaller than the input is refused with both shapes", async () => {
      const model = await open(croppingAutoencoder(), { task: "reconstruction" });
      await assert.rejects(
        model.predict(tensorOf(SIZE, [0.5, 0.5, 0.5])),
        isCode("inferenceFailed", /a reconstruction has its input's shape, but the output is \[1,3,7,8\] for an input of \[1,3,8,8\]$/),
      );
    });

    it("decodeReconstruction names a non-finite input and float32 overflow too", () => {
      const dims = [1, 1, 1, 2];
      const out = { data: Float32Array.of(0, 1e30), dims };
      assert.throws(
        () => decodeReconstruction("m", out, { data: Float32Array.of(Number.POSITIVE_INFINITY, 0), dims }, "NCHW", "max"),
        isCode("inferenceFailed", /the input holds Infinity at pixel \(0, 0\)$/),
      );
      assert.throws(
        () => decodeReconstruction("m", out, { data: Float32Array.of(0, 0), dims }, "NCHW", "max"),
        isCode("inferenceFailed", /the squared error overflows float32 at pixel \(1, 0\)$/),
      );
    });
  });
});
