/**
 * Backbone + patch head: a preprocessed image tensor in, PatchCore-style patch features out.
 * The head is built for the layer shapes of the first image, so every later image must have
 * the same tensor size (the preprocess stage guarantees it).
 */
import { DefectError } from "../errors";
import type { Tensor } from "../image/types";
import type { SessionOptions } from "../onnx";
import { openOnnxBackbone, type Backbone, type BackboneConfig } from "./backbone";
import { layerShapes, openPatchHead, type LayerShape, type PatchHead, type PoolWindows } from "./patch-head";
import type { FusableBackbone } from "../anomaly/patchcore/fused-scoring";
import type { FeatureMap, PatchEmbedding } from "./types";

export interface PatchExtractor {
  readonly backbone: Backbone;
  /** Raw layer outputs (for methods with their own feature handling, e.g. PaDiM). */
  layers(tensor: Tensor): Promise<FeatureMap[]>;
  embed(tensor: Tensor): Promise<PatchEmbedding>;
  /**
   * The backbone as a PatchCore scorer chains its fused scoring to it (patchcore.ts scoreTensor);
   * undefined for extractors that change the features on the way (standardisation).
   */
  fusable?(): FusableBackbone | undefined;
  release(): Promise<void>;
}

export async function openPatchExtractor(config: BackboneConfig, session?: SessionOptions, pool: PoolWindows = 3): Promise<PatchExtractor> {
  const backbone = await openOnnxBackbone({ ...config, session });
  // A promise, so two images arriving together share one head instead of each building one.
  let head: Promise<PatchHead> | undefined;
  let headKey = "";
  let shapes: LayerShape[] | undefined;
  return {
    backbone,
    layers: (tensor) => backbone.extract(tensor),
    async embed(tensor) {
      const maps = await backbone.extract(tensor);
      const key = maps.map((m) => `${m.channels}x${m.height}x${m.width}`).join("+");
      if (head === undefined) {
        const opening = openPatchHead(layerShapes(maps), session, pool);
        head = opening;
        headKey = key;
        opening.then(
          () => {
            if (head === opening) shapes = layerShapes(maps);
          },
          () => {
            if (head === opening) head = undefined;
          },
        );
      } else if (key !== headKey) {
        throw new DefectError("inputShapeMismatch", `feature maps ${key} differ from the first image's ${headKey}: preprocess every image to the same size`, {
          expected: headKey,
          actual: key,
        });
      }
      return (await head).embed(maps);
    },
    fusable: () => ({
      model: backbone.model,
      inputName: backbone.identity.inputName,
      layers: config.layers,
      shapes,
      pool,
      extract: (tensor) => backbone.extract(tensor),
      rememberShapes(seen) {
        shapes ??= [...seen];
      },
    }),
    async release() {
      await (await head?.catch(() => undefined))?.release();
      await backbone.release();
    },
  };
}
