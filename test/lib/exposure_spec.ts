import { strict as assert } from "node:assert";
import * as ort from "onnxruntime-node";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import { buildExposureGraph, EXPOSURE_INPUT, EXPOSURE_OUTPUT } from "../../src/lib/features/exposure-graph";
import { acquireModelFromBytes } from "../../src/lib/onnx";
import { evensExposureByDefault, exposureEvenedExtractor } from "../../src/lib/features/even-exposure";
import type { PatchExtractor } from "../../src/lib/features/extractor";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import {
  EVEN_EXPOSURE_TARGET,
  evenExposure,
  exposureGain,
  IMAGENET_NORMALISATION,
  MAX_EXPOSURE_GAIN,
  meanBrightness,
  type TensorNormalisation,
} from "../../src/lib/image/exposure";
import type { RawImage, Tensor } from "../../src/lib/image/types";
import { generateGood } from "../../src/offline/synth";
import { encodePng } from "../fixtures/images";

const NCHW = parsePreprocessOptions({ preset: "imagenet", width: 48, height: 40 });
const NHWC = parsePreprocessOptions({ preset: "imagenet", width: 48, height: 40, layout: "NHWC" });

function scaled(image: RawImage, gain: number): RawImage {
  return { ...image, data: Uint8Array.from(image.data, (v) => Math.min(255, Math.round(v * gain))) };
}

async function tensorOf(image: RawImage, options = NCHW): Promise<Tensor> {
  return (await preprocessImage(await encodePng(image), options, { maxPixels: 1e8 })).tensor;
}

const meanAbs = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + Math.abs(v - (b[i] as number)), 0) / a.length;

/** The pixel (0..1) a normalised NCHW value stands for. */
const pixelOf = (t: Tensor, c: number, i: number): number => (t.data[c * 48 * 40 + i] as number) * NCHW.std[c]! + NCHW.mean[c]!;

describe("exposure evened out", () => {
  const part = generateGood("cast-surface", 3, 64);

  it("brings an image to the target mean brightness and two exposures of one scene to the same tensor", async () => {
    const normal = await tensorOf(part);
    const dim = await tensorOf(scaled(part, 0.5));
    assert.ok(Math.abs(meanBrightness(dim, NCHW) - 0.5 * meanBrightness(normal, NCHW)) < 0.01, "the dim copy is half as bright");
    const a = evenExposure(normal, NCHW);
    const b = evenExposure(dim, NCHW);
    assert.ok(Math.abs(meanBrightness(a, NCHW) - EVEN_EXPOSURE_TARGET) < 1e-4);
    assert.ok(Math.abs(meanBrightness(b, NCHW) - EVEN_EXPOSURE_TARGET) < 1e-4);
    const before = meanAbs(normal.data, dim.data);
    const after = meanAbs(a.data, b.data);
    // What is left is the dim copy's 8-bit rounding.
    assert.ok(after < 0.05 && after < before / 20, `mean difference ${before} as captured, ${after} evened out`);
    assert.deepEqual(a.dims, normal.dims);
    assert.equal(a.layout, "NCHW");
  });

  it("keeps a defect's contrast against its own part and the colour balance: one gain for every pixel and channel", async () => {
    const normal = await tensorOf(part);
    const gain = exposureGain(normal, NCHW);
    const out = evenExposure(normal, NCHW);
    for (const [c, i] of [
      [0, 5],
      [1, 700],
      [2, 1500],
    ] as const) {
      assert.ok(Math.abs(pixelOf(out, c, i) - gain * pixelOf(normal, c, i)) < 1e-5, `channel ${c}, pixel ${i}`);
    }
    assert.notEqual(out.data, normal.data, "a new tensor");
    const copy = await tensorOf(part);
    assert.deepEqual(Array.from(normal.data), Array.from(copy.data), "the input is left as it was");
  });

  it("gives the same values in NHWC as in NCHW", async () => {
    const chw = evenExposure(await tensorOf(part, NCHW), NCHW);
    const hwc = evenExposure(await tensorOf(part, NHWC), NHWC);
    const plane = 48 * 40;
    for (const i of [0, 17, 999, plane - 1])
      for (let c = 0; c < 3; c++) assert.ok(Math.abs((chw.data[c * plane + i] as number) - (hwc.data[i * 3 + c] as number)) < 1e-5);
  });

  it("stops at 8x for a nearly black image and leaves an image with no light as it is", () => {
    const tensor = (pixel: number): Tensor => ({
      data: Float32Array.from(
        { length: 3 * 4 },
        (_, i) => (pixel - IMAGENET_NORMALISATION.mean[Math.floor(i / 4)]!) / IMAGENET_NORMALISATION.std[Math.floor(i / 4)]!,
      ),
      dims: [1, 3, 2, 2],
      layout: "NCHW",
    });
    assert.equal(exposureGain(tensor(0.01), IMAGENET_NORMALISATION), MAX_EXPOSURE_GAIN);
    assert.ok(Math.abs(exposureGain(tensor(0.99), IMAGENET_NORMALISATION) - EVEN_EXPOSURE_TARGET / 0.99) < 1e-6, "a bright image is darkened");
    assert.equal(exposureGain(tensor(0), IMAGENET_NORMALISATION), 1);
    const black = tensor(0);
    assert.deepEqual(Array.from(evenExposure(black, IMAGENET_NORMALISATION).data), Array.from(black.data));
  });

  it("reads a gray tensor with one mean and std", () => {
    const norm = { mean: [0.5], std: [0.25], scale: 1 };
    const gray: Tensor = { data: Float32Array.from([-1, -1, -1, -1]), dims: [1, 1, 2, 2], layout: "NCHW" }; // pixel 0.25
    assert.ok(Math.abs(meanBrightness(gray, norm) - 0.25) < 1e-9);
    const out = evenExposure(gray, norm);
    out.data.forEach((v) => assert.ok(Math.abs(v * 0.25 + 0.5 - EVEN_EXPOSURE_TARGET) < 1e-6));
  });

  it("wraps an extractor so layer maps and embeddings see the evened tensor, and the fused scoring is told to even", async () => {
    const seen: Tensor[] = [];
    const fed: Tensor[] = [];
    const inner: PatchExtractor = {
      backbone: {} as PatchExtractor["backbone"],
      layers: async (t) => (seen.push(t), []),
      embed: async (t) => (seen.push(t), { data: new Float32Array(0), patches: 0, dim: 0, gridWidth: 0, gridHeight: 0 }),
      fusable: () => ({
        model: {} as never,
        inputName: "input",
        layers: ["l1"],
        shapes: undefined,
        pool: 3,
        extract: async (t) => (fed.push(t), []),
        rememberShapes: () => undefined,
      }),
      release: async () => undefined,
    };
    const dim = await tensorOf(scaled(part, 0.5));
    const wrapped = exposureEvenedExtractor(inner, NCHW);
    await wrapped.layers(dim);
    await wrapped.embed(dim);
    for (const t of seen) assert.ok(Math.abs(meanBrightness(t, NCHW) - EVEN_EXPOSURE_TARGET) < 1e-4);
    assert.equal(seen.length, 2);
    // The fused scoring evens with its graph (exposure-graph.ts), the first image too: the backbone is handed over as it is.
    const fusable = wrapped.fusable?.();
    assert.deepEqual(fusable?.exposure, NCHW);
    await fusable?.extract(dim);
    assert.equal(fed[0], dim);
    const plain = exposureEvenedExtractor({ ...inner, fusable: () => undefined }, NCHW);
    assert.equal(plain.fusable?.(), undefined, "nothing to fuse with: the embed path");
  });

  it("as a graph on the backbone's worker, gives the values image/exposure.ts gives, NCHW and NHWC, clamped and unlit alike", async () => {
    const cases: Array<[Tensor, TensorNormalisation]> = [
      [await tensorOf(scaled(part, 0.5)), NCHW],
      [await tensorOf(scaled(part, 1.6)), NCHW],
      [await tensorOf(part, NHWC), NHWC],
      [
        { data: new Float32Array(3 * 16).fill(-3), dims: [1, 3, 4, 4], layout: "NCHW" },
        { mean: [0], std: [1], scale: 1 },
      ], // no light
      [
        { data: new Float32Array(16).fill(0.01), dims: [1, 1, 4, 4], layout: "NCHW" },
        { mean: [0], std: [1], scale: 1 },
      ], // 8x at most
      [
        { data: new Float32Array(3 * 16).fill(200), dims: [1, 4, 4, 3], layout: "NHWC" },
        { mean: [0], std: [1], scale: 255 },
      ], // raw 0..255 inputs
    ];
    for (const [i, [tensor, norm]] of cases.entries()) {
      const channels = tensor.layout === "NCHW" ? tensor.dims[1]! : tensor.dims[3]!;
      const model = await acquireModelFromBytes(`exposure-spec-${i}`, buildExposureGraph({ norm, channels, layout: tensor.layout }));
      try {
        const out = (await model.run({ [EXPOSURE_INPUT]: new ort.Tensor("float32", tensor.data.slice(), tensor.dims) }))[EXPOSURE_OUTPUT]!;
        const expected = evenExposure(tensor, norm).data;
        assert.deepEqual(out.dims, tensor.dims);
        const worst = (out.data as Float32Array).reduce((w, v, j) => Math.max(w, Math.abs(v - (expected[j] as number))), 0);
        assert.ok(worst < 1e-4, `case ${i}: largest difference ${worst}`);
      } finally {
        await model.release();
      }
    }
  });

  it("is on by default for PatchCore learning from good parts with an ONNX backbone, and set by the Exposure option", () => {
    assert.equal(evensExposureByDefault("patchcore", false, "/models/resnet.onnx"), true);
    assert.equal(evensExposureByDefault("patchcore", false, "embedded"), false);
    assert.equal(evensExposureByDefault("patchcore", true, "/models/resnet.onnx"), false);
    assert.equal(evensExposureByDefault("padim", false, "/models/resnet.onnx"), false);
    const parse = (extra: Record<string, unknown>) => parseDetectorOptions({ method: "patchcore", backbone: "/models/resnet.onnx", ...extra }).evenExposure;
    assert.equal(parse({}), true);
    assert.equal(parse({ exposure: "auto" }), true);
    assert.equal(parse({ exposure: "as-captured" }), false);
    assert.equal(parse({ backbone: "embedded" }), false);
    assert.equal(parse({ backbone: "embedded", exposure: "even" }), true);
    assert.equal(parseDetectorOptions({ method: "padim", backbone: "/models/resnet.onnx", exposure: "even" }).evenExposure, true);
    assert.throws(
      () => parse({ exposure: "bright" }),
      (e: Error & { code?: string }) => e.code === "invalidOption" && /exposure/.test(e.message) && /auto, even, as-captured/.test(e.message),
    );
  });
});
