import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { covarianceChunk, fitGaussians, type GaussianGrid } from "../../src/lib/anomaly/padim/covariance";
import { chooseChannels, padimEmbedding } from "../../src/lib/anomaly/padim/embedding";
import { invertSpd } from "../../src/lib/anomaly/padim/gaussian";
import { openMahalanobisScorer } from "../../src/lib/anomaly/padim/mahalanobis";
import { DEFAULT_PADIM_OPTIONS, gaussianCount, statisticsBytes } from "../../src/lib/anomaly/padim/padim";
import { openPadimMethod } from "../../src/lib/detector/methods/padim-method";
import { padimStatisticsFrom } from "../../src/lib/detector/storage/padim-store";
import type { LearningMethod } from "../../src/lib/detector/types";
import { DefectError } from "../../src/lib/errors";
import { readModelFile } from "../../src/lib/persist";
import { floatsToHalf } from "../../src/lib/supervised/half";
import type { FeatureMap } from "../../src/lib/features/types";
import { toTensor } from "../../src/lib/image/tensor";
import type { RawImage, Tensor } from "../../src/lib/image/types";
import { GraphBuilder } from "../../src/lib/onnx/graph-builder";
import { generateDefect, generateGood, type DefectKind } from "../../src/offline/synth";
import { Rng } from "../../src/lib/random";

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs((actual[i] as number) - (expected[i] as number)) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

function multiply(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[i * n + k] as number) * (b[k * n + j] as number);
      out.push(s);
    }
  }
  return out;
}

function identity(n: number): number[] {
  return Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
}

describe("PaDiM Gaussians", function () {
  // Two positions, three channels, four images: embeddings[image] is [position, channel].
  const images = [
    Float32Array.of(1, 2, 0, /* position 1 */ 10, 0, 5),
    Float32Array.of(3, 2, 1, 12, 1, 5),
    Float32Array.of(2, 5, 1, 10, 2, 6),
    Float32Array.of(2, 3, 2, 8, 1, 4),
  ];
  const samples = { images, positions: 2, dim: 3 };
  // By hand: means, and sums of centred products over 4 - 1 = 3, plus 0.01 on the diagonal.
  const mean = [2, 3, 1, 10, 1, 5];
  const covariance0 = [2 / 3 + 0.01, 0, 1 / 3, 0, 6 / 3 + 0.01, 1 / 3, 1 / 3, 1 / 3, 2 / 3 + 0.01];
  const covariance1 = [8 / 3 + 0.01, 0, 2 / 3, 0, 2 / 3 + 0.01, 1 / 3, 2 / 3, 1 / 3, 2 / 3 + 0.01];

  it("computes per-position means and unbiased covariances plus 0.01·I", async function () {
    const chunk = await covarianceChunk(samples, 0, 2, 0.01);
    assertClose(chunk.mean, mean, 1e-6, "mean");
    assertClose(chunk.covariance, [...covariance0, ...covariance1], 1e-6, "covariance");
  });

  it("stores inverse covariances that multiply the covariances back to the identity", async function () {
    const grid = await fitGaussians(samples, DEFAULT_PADIM_OPTIONS.regularisation);
    assert.equal(grid.positions, 2);
    assert.equal(grid.dim, 3);
    assertClose(grid.mean, mean, 1e-6, "mean");
    assertClose(multiply(grid.inverse.subarray(0, 9), covariance0, 3), identity(3), 1e-4, "inverse 0 x covariance 0");
    assertClose(multiply(grid.inverse.subarray(9, 18), covariance1, 3), identity(3), 1e-4, "inverse 1 x covariance 1");
  });

  it("fits the same Gaussians from float16 embeddings, as learning rounds keep them", async function () {
    const rng = new Rng(5);
    const images = Array.from({ length: 20 }, () => Float32Array.from({ length: 4 * 3 }, () => rng.range(-2, 2)));
    const exact = await fitGaussians({ images, positions: 4, dim: 3 }, 0.01);
    const half = await fitGaussians({ images: images.map((image) => floatsToHalf(image)), positions: 4, dim: 3 }, 0.01);
    assertClose(half.mean, exact.mean, 2e-3, "mean");
    assertClose(half.inverse, exact.inverse, 2e-2, "inverse");
  });

  it("gives a single image the regularisation alone as covariance", async function () {
    const grid = await fitGaussians({ images: [Float32Array.of(4, -1)], positions: 1, dim: 2 }, 0.01);
    assertClose(grid.mean, [4, -1], 0, "mean");
    assertClose(grid.inverse, [100, 0, 0, 100], 1e-3, "inverse");
  });

  it("inverts a symmetric positive-definite matrix through Cholesky exactly", function () {
    const inverse = invertSpd(Float64Array.of(4, 2, 0, 2, 3, 1, 0, 1, 2), 3);
    assertClose(
      inverse,
      [5, -4, 2, -4, 8, -4, 2, -4, 8].map((v) => v / 12),
      1e-12,
      "inverse",
    );
  });

  it("rejects a matrix that is not positive definite", function () {
    assert.throws(
      () => invertSpd(Float64Array.of(1, 2, 2, 1), 2),
      (e: unknown) => e instanceof DefectError && e.code === "inferenceFailed" && /not positive definite \(pivot 1 of 2 is -3\)/.test(e.message),
    );
  });

  it("rejects an empty training set and embeddings of the wrong size", async function () {
    await assert.rejects(fitGaussians({ images: [], positions: 2, dim: 3 }, 0.01), (e: unknown) => e instanceof DefectError && e.code === "invalidOption");
    await assert.rejects(
      fitGaussians({ images: [new Float32Array(5)], positions: 2, dim: 3 }, 0.01),
      (e: unknown) =>
        e instanceof DefectError && e.code === "inputShapeMismatch" && e.message === "training embedding 0 holds 5 values, expected 2 positions x 3 channels",
    );
  });
});

describe("PaDiM Mahalanobis distance", function () {
  it("equals the hand-computed distance in two dimensions", async function () {
    // Samples (0,0), (2,0), (0,2), (2,2): mean (1,1), covariance (4/3)·I + 0.01·I, so
    // d(x) = |x - mean| / sqrt(4/3 + 0.01).
    const points = [Float32Array.of(0, 0), Float32Array.of(2, 0), Float32Array.of(0, 2), Float32Array.of(2, 2)];
    const grid = await fitGaussians({ images: points, positions: 1, dim: 2 }, 0.01);
    const scorer = await openMahalanobisScorer(grid);
    try {
      const d = await scorer.distances({ data: Float32Array.of(4, 5), patches: 1, dim: 2, gridHeight: 1, gridWidth: 1 });
      assertClose(d, [5 / Math.sqrt(4 / 3 + 0.01)], 1e-5, "distance");
    } finally {
      await scorer.release();
    }
  });

  it("uses each position's own Gaussian with a correlated inverse covariance", async function () {
    // Position 0: mean (1,2), Σ⁻¹ = [[2, 0.5], [0.5, 1]], x = (2,4): Δ = (1,2), ΔᵀΣ⁻¹Δ = 2 + 2 + 4 = 8.
    // Position 1: x equals the mean, distance 0.
    const grid: GaussianGrid = { positions: 2, dim: 2, mean: Float32Array.of(1, 2, -3, 7), inverse: Float32Array.of(2, 0.5, 0.5, 1, 1, 0, 0, 1) };
    const scorer = await openMahalanobisScorer(grid);
    try {
      const d = await scorer.distances({ data: Float32Array.of(2, 4, -3, 7), patches: 2, dim: 2, gridHeight: 1, gridWidth: 2 });
      assertClose(d, [Math.sqrt(8), 0], 1e-6, "distances");
      await assert.rejects(
        scorer.distances({ data: new Float32Array(6), patches: 3, dim: 2, gridHeight: 1, gridWidth: 3 }),
        (e: unknown) => e instanceof DefectError && e.code === "inputShapeMismatch" && e.details.expected === "2x2" && e.details.actual === "3x2",
      );
    } finally {
      await scorer.release();
    }
  });
});

describe("PaDiM embedding", function () {
  it("draws the same sorted channel subset for the same seed", function () {
    const a = chooseChannels(1792, 100, 0);
    assert.deepEqual(Array.from(chooseChannels(1792, 100, 0)), Array.from(a));
    assert.equal(new Set(a).size, 100);
    assert.ok(a.every((c, i) => c >= 0 && c < 1792 && (i === 0 || c > (a[i - 1] as number))));
    assert.notDeepEqual(Array.from(chooseChannels(1792, 100, 1)), Array.from(a));
    assert.deepEqual(Array.from(chooseChannels(10, 4, 7)), [0, 1, 7, 9]);
    assert.deepEqual(Array.from(chooseChannels(5, 100, 3)), [0, 1, 2, 3, 4]);
    assert.throws(
      () => chooseChannels(10, 0, 1),
      (e: unknown) => e instanceof DefectError && e.code === "invalidOption",
    );
  });

  it("upsamples coarser layers nearest to the finest grid and keeps the chosen channels", function () {
    const fine: FeatureMap = {
      name: "l1",
      channels: 2,
      height: 2,
      width: 4,
      data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, /* ch 1 */ 11, 12, 13, 14, 15, 16, 17, 18),
    };
    const coarse: FeatureMap = { name: "l2", channels: 1, height: 1, width: 2, data: Float32Array.of(-1, -2) };
    const e = padimEmbedding([fine, coarse], Int32Array.of(0, 2));
    assert.deepEqual({ patches: e.patches, dim: e.dim, gridHeight: e.gridHeight, gridWidth: e.gridWidth }, { patches: 8, dim: 2, gridHeight: 2, gridWidth: 4 });
    assert.deepEqual(Array.from(e.data), [1, -1, 2, -1, 3, -2, 4, -2, 5, -1, 6, -1, 7, -2, 8, -2]);
    assert.throws(
      () => padimEmbedding([fine, coarse], Int32Array.of(3)),
      (e: unknown) =>
        e instanceof DefectError &&
        e.code === "inputShapeMismatch" &&
        e.message === "PaDiM channel 3 does not exist: the backbone layers have 3 channels in all",
    );
  });
});

const IMAGE_SIZE = 64;
const KIND = "cast-surface";
const IMAGENET = { color: "rgb", layout: "NCHW", scale: 1, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

function randomWeights(rng: Rng, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => rng.range(-1, 1));
}

/** A tiny CNN with three outputs at strides 4, 8 and 16: l1 [1,4,16,16], l2 [1,8,8,8], l3 [1,8,4,4]. */
function tinyBackbone(): Uint8Array {
  const rng = new Rng(11);
  const g = new GraphBuilder({ name: "tiny-backbone" });
  const x = g.input("image", "float32", [1, 3, "height", "width"]);
  const stage = (input: ReturnType<GraphBuilder["input"]>, name: string, inC: number, outC: number, pool: number) => {
    const w = g.constant(`${name}_w`, randomWeights(rng, outC * inC * 9), [outC, inC, 3, 3]);
    const conv = g.op("Relu", [g.op("Conv", [input, w], { pads: [1, 1, 1, 1] })]);
    return g.op("AveragePool", [conv], { kernel_shape: [pool, pool], strides: [pool, pool] });
  };
  const l1 = stage(x, "c1", 3, 4, 4);
  const l2 = stage(l1, "c2", 4, 8, 2);
  const l3 = stage(l2, "c3", 8, 8, 2);
  g.output(l1, "l1", "float32");
  g.output(l2, "l2", "float32");
  g.output(l3, "l3", "float32");
  return g.build();
}

function tensorOf(image: RawImage): Tensor {
  return toTensor(image, { ...IMAGENET, mean: [...IMAGENET.mean], std: [...IMAGENET.std] });
}

describe("PaDiM end to end on synthetic parts (the detector's method)", function () {
  let dir = "";
  let backbone = "";
  const methods: LearningMethod[] = [];

  async function method(channels: number): Promise<LearningMethod> {
    const opened = await openPadimMethod({
      setting: "unsupervised",
      backbone,
      layers: ["l1", "l2", "l3"],
      options: { ...DEFAULT_PADIM_OPTIONS, channels },
      session: {},
    });
    methods.push(opened);
    return opened;
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "padim-spec-"));
    backbone = join(dir, "tiny.onnx");
    await writeFile(backbone, tinyBackbone());
  });

  after(async function () {
    for (const m of methods) await m.release();
    await rm(dir, { recursive: true, force: true });
  });

  it("scores defective parts above good ones and peaks inside the defect", async function () {
    const round = await (await method(12)).startRound();
    try {
      for (let seed = 1; seed <= 30; seed++) await round.add({ tensor: tensorOf(generateGood(KIND, seed, IMAGE_SIZE)), preprocessing: undefined });
      assert.equal(round.count, 30);
      const fitted = await round.fit(new AbortController().signal);
      const model = fitted.model;
      try {
        const path = join(dir, "padim.ddm");
        await fitted.save(path);
        const statistics = padimStatisticsFrom(await readModelFile(path), path);
        assert.equal(gaussianCount(statistics), 256);
        assert.equal(model.info["positions"], 256);
        assert.equal(statistics.channels.length, 12);
        assert.equal(statisticsBytes(statistics), 256 * 12 * 4 + 256 * 144 * 4 + 12 * 4);
        assert.equal(statistics.layers, "l1:4x16x16+l2:8x8x8+l3:8x4x4");

        const good: number[] = [];
        for (let seed = 101; seed <= 110; seed++) {
          const result = await model.inspect(tensorOf(generateGood(KIND, seed, IMAGE_SIZE)));
          assert.equal(result.map?.width, IMAGE_SIZE);
          assert.equal(result.map?.height, IMAGE_SIZE);
          good.push(result.score);
        }
        const defects: number[] = [];
        let peaksInside = 0;
        const kinds: DefectKind[] = ["spot", "hole", "crack", "scratch"];
        for (let i = 0; i < 12; i++) {
          const sample = generateDefect(KIND, kinds[i % kinds.length] as DefectKind, 201 + i, IMAGE_SIZE);
          const result = await model.inspect(tensorOf(sample.image));
          defects.push(result.score);
          const map = result.map?.data ?? new Float32Array(0);
          let arg = 0;
          for (let p = 1; p < map.length; p++) if ((map[p] as number) > (map[arg] as number)) arg = p;
          if ((sample.mask.data[arg] as number) > 0) peaksInside += 1;
        }
        const average = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
        assert.ok(average(defects) > average(good), `defects ${average(defects)} vs good ${average(good)}`);
        const aboveAllGood = defects.filter((s) => s > Math.max(...good)).length;
        assert.ok(aboveAllGood >= 10, `${aboveAllGood} of 12 defective parts score above every good part`);
        assert.ok(peaksInside >= 9, `map maximum inside the mask for ${peaksInside} of 12`);
      } finally {
        await model.release();
      }
    } finally {
      await round.release();
    }
  });

  it("refuses to fit without images and to inspect another input size", async function () {
    const opened = await method(DEFAULT_PADIM_OPTIONS.channels);
    const empty = await opened.startRound();
    await assert.rejects(empty.fit(new AbortController().signal), (e: unknown) => e instanceof DefectError && e.code === "notTrained");
    await empty.release();
    const round = await opened.startRound();
    await round.add({ tensor: tensorOf(generateGood(KIND, 1, IMAGE_SIZE)), preprocessing: undefined });
    const { model } = await round.fit(new AbortController().signal);
    try {
      await assert.rejects(
        model.inspect(tensorOf(generateGood(KIND, 2, 32))),
        (e: unknown) =>
          e instanceof DefectError &&
          e.code === "inputShapeMismatch" &&
          e.details.expected === "l1:4x16x16+l2:8x8x8+l3:8x4x4" &&
          e.details.actual === "l1:4x8x8+l2:8x4x4+l3:8x2x2",
      );
    } finally {
      await model.release();
      await round.release();
    }
  });
});
