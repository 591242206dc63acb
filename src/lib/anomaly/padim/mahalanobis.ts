/**
 * Mahalanobis distance of every position of one image to its own Gaussian,
 * sqrt(max(0, Δᵀ Σ⁻¹ Δ)) with Δ = x - μ, as one onnxruntime graph: the inverse covariances are
 * an initializer [positions, dim, dim] and the products one batched MatMul, so an image costs
 * one pass over the 160 MB of inverses (a few ms) instead of 40 M scalar multiply-adds.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import type { PatchEmbedding } from "../../features/types";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type ModelHandle, type SessionOptions } from "../../onnx";
import type { GaussianGrid } from "./covariance";

export function buildMahalanobisModel(grid: GaussianGrid): Uint8Array {
  const { positions, dim } = grid;
  const g = new GraphBuilder({ name: "padim-mahalanobis" });
  const x = g.input("embedding", "float32", [positions, dim]);
  const delta = g.op("Reshape", [g.op("Sub", [x, g.constant("mean", grid.mean, [positions, dim])]), g.constantInt64("rowShape", [positions, 1, dim])]);
  const weighted = g.op("MatMul", [delta, g.constant("inverse", grid.inverse, [positions, dim, dim])]);
  const squared = g.op("ReduceSum", [g.op("Mul", [weighted, delta]), g.constantInt64("axes", [1, 2])], { keepdims: 0 });
  // Rounding can make a tiny quadratic form negative; anomalib clamps at 0 before the root.
  g.output(g.op("Sqrt", [g.op("Max", [squared, g.constantFloat("zero", [0], [])])]), "distances", "float32");
  return g.build();
}

let scorerCounter = 0;

export interface MahalanobisScorer {
  readonly positions: number;
  readonly dim: number;
  /** One distance per position, row-major over the grid. */
  distances(embedding: PatchEmbedding): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function openMahalanobisScorer(grid: GaussianGrid, session?: SessionOptions): Promise<MahalanobisScorer> {
  const { positions, dim } = grid;
  // Each fitted grid is its own session: the key only has to be unique while it lives.
  const model: ModelHandle = await acquireModelFromBytes(`padim-mahalanobis:${++scorerCounter}:${positions}x${dim}`, buildMahalanobisModel(grid), session);
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
      const out = await model.run({ embedding: new ort.Tensor("float32", embedding.data, [positions, dim]) });
      return (out.distances as ort.Tensor).data as Float32Array;
    },
    release: () => model.release(),
  };
}
