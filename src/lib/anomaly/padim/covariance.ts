/**
 * Per-position Gaussians of PaDiM: mean and regularised covariance of every grid position over
 * the training images, then the inverse covariances. Accumulating 4096 covariances of 100
 * channels over 200 images is ~16 GFLOP, so it runs as one batched onnxruntime MatMul per chunk
 * of positions ([C, D, N] x [C, N, D]); the 100 x 100 inversions are cheap enough for JavaScript.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type ModelHandle, type SessionOptions } from "../../onnx";
import { halfToFloatsInto } from "../../supervised/half";
import { SpdInverter } from "./gaussian";

/** Positions per onnxruntime run: [256, 200, 100] floats is 20 MB, big enough to keep BLAS busy. */
const CHUNK_POSITIONS = 256;

/**
 * Training embeddings, one per image, each row-major [positions, dim]: float32, or float16 bit
 * patterns (Uint16Array) as learning rounds keep them, half the memory, decoded chunk by chunk.
 */
export interface PositionSamples {
  images: readonly (Float32Array | Uint16Array)[];
  positions: number;
  dim: number;
}

export interface GaussianGrid {
  positions: number;
  dim: number;
  /** [positions, dim]. */
  mean: Float32Array;
  /** [positions, dim, dim], symmetric. */
  inverse: Float32Array;
}

export interface CovarianceChunk {
  /** [count, dim]. */
  mean: Float32Array;
  /** [count, dim, dim], regularised. */
  covariance: Float32Array;
}

function buildCovarianceModel(dim: number, regularisation: number): Uint8Array {
  const identity = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) identity[i * dim + i] = regularisation;
  const g = new GraphBuilder({ name: "padim-covariance" });
  const x = g.input("samples", "float32", ["positions", "images", dim]);
  const divisor = g.input("divisor", "float32", []);
  const mean = g.op("ReduceMean", [x], { axes: [1], keepdims: 1 });
  const centred = g.op("Sub", [x, mean]);
  const scatter = g.op("MatMul", [g.op("Transpose", [centred], { perm: [0, 2, 1] }), centred]);
  const covariance = g.op("Add", [g.op("Div", [scatter, divisor]), g.constant("regularisation", identity, [dim, dim])]);
  g.output(mean, "mean", "float32");
  g.output(covariance, "covariance", "float32");
  return g.build();
}

async function openCovarianceModel(dim: number, regularisation: number, session?: SessionOptions): Promise<ModelHandle> {
  return acquireModelFromBytes(`padim-covariance:${dim}:${regularisation}`, buildCovarianceModel(dim, regularisation), session);
}

function checkSamples(samples: PositionSamples): void {
  const { images, positions, dim } = samples;
  if (images.length === 0) throw new DefectError("invalidOption", "no training images: learn from at least one good image", { option: "train", value: 0 });
  images.forEach((image, i) => {
    if (image.length !== positions * dim) {
      throw new DefectError("inputShapeMismatch", `training embedding ${i} holds ${image.length} values, expected ${positions} positions x ${dim} channels`, {
        expected: positions * dim,
        actual: image.length,
      });
    }
  });
}

/** Samples of positions [start, start + count) as [count, images, dim]. */
function gatherChunk(samples: PositionSamples, start: number, count: number): Float32Array {
  const { images, dim } = samples;
  const out = new Float32Array(count * images.length * dim);
  for (let p = 0; p < count; p++) {
    const from = (start + p) * dim;
    images.forEach((image, n) => {
      const at = (p * images.length + n) * dim;
      if (image instanceof Float32Array) out.set(image.subarray(from, from + dim), at);
      else halfToFloatsInto(image.subarray(from, from + dim), out, at);
    });
  }
  return out;
}

async function runChunk(model: ModelHandle, samples: PositionSamples, start: number, count: number): Promise<CovarianceChunk> {
  const n = samples.images.length;
  // Unbiased (n - 1) as torch.cov; a single image has no spread, so its covariance is the regularisation alone.
  const divisor = n > 1 ? n - 1 : 1;
  const out = await model.run({
    samples: new ort.Tensor("float32", gatherChunk(samples, start, count), [count, n, samples.dim]),
    divisor: new ort.Tensor("float32", Float32Array.of(divisor), []),
  });
  return { mean: (out.mean as ort.Tensor).data as Float32Array, covariance: (out.covariance as ort.Tensor).data as Float32Array };
}

/** Mean and covariance + regularisation·I of positions [start, start + count). */
export async function covarianceChunk(
  samples: PositionSamples,
  start: number,
  count: number,
  regularisation: number,
  session?: SessionOptions,
): Promise<CovarianceChunk> {
  checkSamples(samples);
  const model = await openCovarianceModel(samples.dim, regularisation, session);
  try {
    return await runChunk(model, samples, start, count);
  } finally {
    await model.release();
  }
}

/** Fits one Gaussian per position and inverts its covariance. */
export async function fitGaussians(samples: PositionSamples, regularisation: number, session?: SessionOptions): Promise<GaussianGrid> {
  checkSamples(samples);
  const { positions, dim } = samples;
  const mean = new Float32Array(positions * dim);
  const inverse = new Float32Array(positions * dim * dim);
  const inverter = new SpdInverter(dim);
  const model = await openCovarianceModel(dim, regularisation, session);
  try {
    for (let start = 0; start < positions; start += CHUNK_POSITIONS) {
      const count = Math.min(CHUNK_POSITIONS, positions - start);
      const chunk = await runChunk(model, samples, start, count);
      mean.set(chunk.mean, start * dim);
      for (let p = 0; p < count; p++) inverter.invert(chunk.covariance, p * dim * dim, inverse, (start + p) * dim * dim);
    }
  } finally {
    await model.release();
  }
  return { positions, dim, mean, inverse };
}
