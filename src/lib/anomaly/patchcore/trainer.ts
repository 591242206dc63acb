/** PatchCore behind the common trainer/model interfaces: features in, scores and maps out. */
import type { PatchExtractor } from "../../features/extractor";
import type { SessionOptions } from "../../onnx";
import type { AnomalyModel, AnomalyResult, AnomalyTrainer } from "../types";
import { buildMemoryBank, PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "./patchcore";

export function createPatchCoreModel(extractor: PatchExtractor, scorer: PatchCoreScorer): AnomalyModel {
  return {
    async inspect(tensor): Promise<AnomalyResult> {
      const t0 = performance.now();
      const embedding = await extractor.embed(tensor);
      const t1 = performance.now();
      const patches = await scorer.scorePatches(embedding);
      const t2 = performance.now();
      const height = tensor.layout === "NCHW" ? (tensor.dims[2] as number) : (tensor.dims[1] as number);
      const width = tensor.layout === "NCHW" ? (tensor.dims[3] as number) : (tensor.dims[2] as number);
      const map = scorer.anomalyMap(patches.grid, width, height);
      const t3 = performance.now();
      return { score: patches.score, map, timings: { backboneMs: t1 - t0, scoringMs: t2 - t1, postMs: t3 - t2 } };
    },
    release: () => scorer.release(),
  };
}

export interface PatchCoreTrainer extends AnomalyTrainer {
  /** The bank of the last fit, for saving. */
  readonly bank: MemoryBank | undefined;
}

export function createPatchCoreTrainer(extractor: PatchExtractor, options: PatchCoreOptions, session?: SessionOptions): PatchCoreTrainer {
  const chunks: Float32Array[] = [];
  let rows = 0;
  let dim = 0;
  let bank: MemoryBank | undefined;
  return {
    get count() {
      return chunks.length;
    },
    get bank() {
      return bank;
    },
    async add(tensor) {
      const embedding = await extractor.embed(tensor);
      chunks.push(embedding.data);
      rows += embedding.patches;
      dim = embedding.dim;
    },
    async fit() {
      const all = new Float32Array(rows * dim);
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.length;
      }
      bank = await buildMemoryBank(all, rows, dim, options, session);
      return createPatchCoreModel(extractor, await PatchCoreScorer.open(bank, options, session));
    },
    async release() {
      chunks.length = 0;
    },
  };
}
