/** A fitted (or loaded) PaDiM answering inspections: backbone layers in, scores and maps out. */
import { DefectError } from "../../errors";
import type { PatchExtractor } from "../../features/extractor";
import type { FeatureMap } from "../../features/types";
import { tensorSize } from "../../image/tensor";
import type { Tensor } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import type { AnomalyModel, AnomalyResult } from "../types";
import { layersKey, padimEmbedding } from "./embedding";
import { openMahalanobisScorer } from "./mahalanobis";
import { padimMap, type PadimOptions, type PadimStatistics } from "./padim";

/** Feature maps of another size than the training images' would be compared position by position with the wrong Gaussians. */
export function checkLayers(maps: readonly FeatureMap[], expected: string): void {
  const key = layersKey(maps);
  if (key !== expected) {
    throw new DefectError("inputShapeMismatch", `feature maps ${key} differ from the training images' ${expected}: preprocess every image to the same size`, {
      expected,
      actual: key,
    });
  }
}

/** The extractor stays owned by the caller. */
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
