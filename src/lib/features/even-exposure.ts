/**
 * An extractor that evens out each image's exposure before its backbone sees it (image/exposure.ts),
 * on every path an image takes into the features: layer maps (PaDiM) and patch embeddings here, and
 * in the fused PatchCore scoring chain (an inspection) by a graph on the backbone's worker
 * (exposure-graph.ts), off Node-RED's thread.
 */
import { EMBEDDED_BACKBONE } from "./embedded";
import { evenExposure, type TensorNormalisation } from "../image/exposure";
import type { Tensor } from "../image/types";
import type { PatchExtractor } from "./extractor";

/**
 * Whether a detector evens out exposure when its Exposure option is "auto": learning from good
 * parts with PatchCore and an ImageNet backbone, where it was chosen on training-data validations
 * (magnetic_tile's leave-one-out promise at 1 % went from 3.2 % to 1.3 %, the mean recall of
 * painted and labelled defects from 0.672 to 0.721). The embedded backbone was trained to ignore
 * lighting already (instance-norm.ts); few shots standardise their features per image, and PaDiM
 * was not measured with it: those keep the pixels as captured unless asked.
 */
export function evensExposureByDefault(method: string, fewShot: boolean, backbone: string): boolean {
  return method === "patchcore" && !fewShot && backbone !== EMBEDDED_BACKBONE;
}

export function exposureEvenedExtractor(inner: PatchExtractor, norm: TensorNormalisation): PatchExtractor {
  const even = (tensor: Tensor): Tensor => evenExposure(tensor, norm);
  return {
    backbone: inner.backbone,
    layers: (tensor) => inner.layers(even(tensor)),
    embed: (tensor) => inner.embed(even(tensor)),
    fusable() {
      const fusable = inner.fusable?.();
      if (fusable === undefined) return undefined;
      // The fused scoring evens every image out with its graph (exposure-graph.ts), the first one included,
      // so an image scores the same bits whether it is the first after a restart or not.
      return { ...fusable, exposure: norm };
    },
    release: () => inner.release(),
  };
}
