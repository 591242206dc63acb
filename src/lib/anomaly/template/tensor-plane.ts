/**
 * A model tensor (what the preprocess node sends) back to the gray plane template comparison
 * works on: the normalisation undone to pixel values 0..1, colour channels averaged. Tolerances
 * and thresholds of the normal-difference model are in those units, whatever mean and std the
 * tensor was made with.
 */
import { DefectError } from "../../errors";
import { tensorSize } from "../../image/tensor";
import type { PreprocessOptions, Tensor } from "../../image/types";
import { IMAGENET_NORMALISATION } from "../../image/exposure";
import { createPlane, MIN_TEMPLATE_SIDE, type GrayPlane } from "./plane";

/** `preprocessing` null: ImageNet mean and std, as the preprocess node's default preset. */
export function tensorToPlane(tensor: Tensor, preprocessing: PreprocessOptions | null): GrayPlane {
  const { width, height, channels } = tensorSize(tensor);
  if (width < MIN_TEMPLATE_SIDE || height < MIN_TEMPLATE_SIDE) {
    throw new DefectError(
      "imageTooSmall",
      `The tensor of ${width}x${height} is too small for template comparison; each side needs at least ${MIN_TEMPLATE_SIDE} pixels.`,
      { name: "tensor", width, height, minSide: MIN_TEMPLATE_SIDE },
    );
  }
  const norm = preprocessing ?? IMAGENET_NORMALISATION;
  const plane = createPlane(width, height);
  const out = plane.data;
  const n = width * height;
  const { data } = tensor;
  const nchw = tensor.layout === "NCHW";
  let offset = 0;
  for (let c = 0; c < channels; c++) {
    // One mean/std a channel; a gray tensor of an RGB preset uses the first.
    const std = norm.std[c] ?? norm.std[0] ?? 1;
    const mean = norm.mean[c] ?? norm.mean[0] ?? 0;
    const gain = std / (norm.scale * channels);
    offset += mean / (norm.scale * channels);
    // Separate loops per layout: this runs on the main thread for every part (about 2 ms at 640x640).
    if (nchw) {
      const base = c * n;
      for (let i = 0; i < n; i++) out[i] = (out[i] as number) + (data[base + i] as number) * gain;
    } else {
      for (let i = 0, j = c; i < n; i++, j += channels) out[i] = (out[i] as number) + (data[j] as number) * gain;
    }
  }
  for (let i = 0; i < n; i++) {
    const v = (out[i] as number) + offset;
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return plane;
}
