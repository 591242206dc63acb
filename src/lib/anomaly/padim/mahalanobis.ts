/**
 * Mahalanobis distance of every position of one image to its own Gaussian,
 * sqrt(max(0, Δᵀ Σ⁻¹ Δ)) with Δ = x - μ, as one onnxruntime graph: the products are one batched
 * MatMul over [positions, dim, dim], so an image costs one pass over the 160 MB of inverses (a
 * few ms) instead of 40 M scalar multiply-adds in JavaScript.
 * The means and inverses are fed as inputs rather than baked in as initializers: scoring is as
 * fast, and it spares serialising 160 MB into a protobuf and a second copy inside onnxruntime
 * (seconds and hundreds of MB at fit time), and lets every model of one shape share the graph.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import type { PatchEmbedding } from "../../features/types";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type KeptFeeds, type ModelHandle, type SessionOptions } from "../../onnx";
import type { GaussianGrid } from "./covariance";

export function buildMahalanobisModel(positions: number, dim: number): Uint8Array {
  const g = new GraphBuilder({ name: "padim-mahalanobis" });
  const x = g.input("embedding", "float32", [positions, dim]);
  const mean = g.input("mean", "float32", [positions, dim]);
  const inverse = g.input("inverse", "float32", [positions, dim, dim]);
  const delta = g.op("Reshape", [g.op("Sub", [x, mean]), g.constantInt64("rowShape", [positions, 1, dim])]);
  const weighted = g.op("MatMul", [delta, inverse]);
  const squared = g.op("ReduceSum", [g.op("Mul", [weighted, delta]), g.constantInt64("axes", [1, 2])], { keepdims: 0 });
  // Rounding can make a tiny quadratic form negative; anomalib clamps at 0 before the root.
  g.output(g.op("Sqrt", [g.op("Max", [squared, g.constantFloat("zero", [0], [])])]), "distances", "float32");
  return g.build();
}

export interface MahalanobisScorer {
  readonly positions: number;
  readonly dim: number;
  /** One distance per position, row-major over the grid. */
  distances(embedding: PatchEmbedding): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function openMahalanobisScorer(grid: GaussianGrid, session?: SessionOptions): Promise<MahalanobisScorer> {
  const { positions, dim } = grid;
  if (grid.mean.length !== positions * dim || grid.inverse.length !== positions * dim * dim) {
    throw new DefectError(
      "inputShapeMismatch",
      `PaDiM statistics hold ${grid.mean.length} mean and ${grid.inverse.length} inverse values, expected ${positions} positions x ${dim} channels`,
      {
        expected: `${positions}x${dim}`,
        actual: `${grid.mean.length}+${grid.inverse.length}`,
      },
    );
  }
  const model: ModelHandle = await acquireModelFromBytes(`padim-mahalanobis:${positions}x${dim}`, buildMahalanobisModel(positions, dim), session);
  // Sent to the model's worker once, not with every image (160 MB of inverses at ResNet sizes).
  let statistics: KeptFeeds;
  try {
    statistics = await model.keep({
      mean: new ort.Tensor("float32", grid.mean, [positions, dim]),
      inverse: new ort.Tensor("float32", grid.inverse, [positions, dim, dim]),
    });
  } catch (error) {
    await model.release();
    throw error;
  }
  return {
    positions,
    dim,
    async distances(embedding) {
      if (embedding.patches !== positions || embedding.dim !== dim) {
        throw new DefectError(
          "inputShapeMismatch",
          `PaDiM embedding has ${embedding.patches} positions x ${embedding.dim} channels, the model ${positions} x ${dim}: use the input size and layers it was trained with`,
          { expected: `${positions}x${dim}`, actual: `${embedding.patches}x${embedding.dim}` },
        );
      }
      const out = await model.run({ embedding: new ort.Tensor("float32", embedding.data, [positions, dim]) }, undefined, { kept: statistics });
      return (out.distances as ort.Tensor).data as Float32Array;
    },
    async release() {
      await statistics.release();
      await model.release();
    },
  };
}
