/** PaDiM behind the common trainer/model interfaces: backbone layers in, scores and maps out. */
import { DefectError } from "../../errors";
import type { PatchExtractor } from "../../features/extractor";
import type { FeatureMap } from "../../features/types";
import type { Tensor } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import type { AnomalyModel, AnomalyResult, AnomalyTrainer } from "../types";
import { fitGaussians } from "./covariance";
import { chooseChannels, layersKey, padimEmbedding, totalChannels } from "./embedding";
import { openMahalanobisScorer } from "./mahalanobis";
import { padimMap, type PadimOptions, type PadimStatistics } from "./padim";

function checkLayers(maps: readonly FeatureMap[], expected: string): void {
  const key = layersKey(maps);
  if (key !== expected) {
    throw new DefectError("inputShapeMismatch", `feature maps ${key} differ from the training images' ${expected}: preprocess every image to the same size`, {
      expected,
      actual: key,
    });
  }
}

function tensorSize(tensor: Tensor): { width: number; height: number } {
  const nchw = tensor.layout === "NCHW";
  return { height: tensor.dims[nchw ? 2 : 1] as number, width: tensor.dims[nchw ? 3 : 2] as number };
}

/** A fitted (or loaded) PaDiM; the extractor stays owned by the caller. */
export async function openPadimModel(
  extractor: PatchExtractor,
  statistics: PadimStatistics,
  options: Pick<PadimOptions, "blurSigma">,
  session?: SessionOptions,
): Promise<AnomalyModel> {
  const scorer = await openMahalanobisScorer(statistics.gaussians, session);
  return {
    async inspect(tensor): Promise<AnomalyResult> {
      const t0 = performance.now();
      const maps = await extractor.layers(tensor);
      checkLayers(maps, statistics.layers);
      const embedding = padimEmbedding(maps, statistics.channels);
      const t1 = performance.now();
      const distances = await scorer.distances(embedding);
      const t2 = performance.now();
      const { width, height } = tensorSize(tensor);
      const { map, score } = padimMap(distances, statistics, width, height, options.blurSigma);
      const t3 = performance.now();
      return { score, map, timings: { backboneMs: t1 - t0, scoringMs: t2 - t1, postMs: t3 - t2 } };
    },
    release: () => scorer.release(),
  };
}

export interface PadimTrainer extends AnomalyTrainer {
  /** The statistics of the last fit, for saving and reporting. */
  readonly statistics: PadimStatistics | undefined;
}

export function createPadimTrainer(extractor: PatchExtractor, options: PadimOptions, session?: SessionOptions): PadimTrainer {
  const images: Float32Array[] = [];
  let channels: Int32Array | undefined;
  let layers = "";
  let grid = { width: 0, height: 0, positions: 0, dim: 0 };
  let statistics: PadimStatistics | undefined;
  return {
    get count() {
      return images.length;
    },
    get statistics() {
      return statistics;
    },
    async add(tensor) {
      const maps = await extractor.layers(tensor);
      if (channels === undefined) {
        channels = chooseChannels(totalChannels(maps), options.channels, options.seed);
        layers = layersKey(maps);
      } else {
        checkLayers(maps, layers);
      }
      const embedding = padimEmbedding(maps, channels);
      grid = { width: embedding.gridWidth, height: embedding.gridHeight, positions: embedding.patches, dim: embedding.dim };
      images.push(embedding.data);
    },
    async fit() {
      if (channels === undefined) {
        throw new DefectError("invalidOption", "no training images: learn from at least one good image", { option: "train", value: 0 });
      }
      const gaussians = await fitGaussians({ images, positions: grid.positions, dim: grid.dim }, options.regularisation, session);
      statistics = { channels, layers, gridWidth: grid.width, gridHeight: grid.height, gaussians };
      return openPadimModel(extractor, statistics, options, session);
    },
    async release() {
      images.length = 0;
    },
  };
}
