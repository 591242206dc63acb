/**
 * Evening out a camera's exposure on a normalised tensor: every pixel scaled by one gain so the
 * image's mean brightness is the mean an ImageNet backbone was trained on. A part shot brighter or
 * darker than the learned ones (another shift's lamp, an auto-exposure camera, magnetic_tile's seven
 * exposures of one scene) then gives the backbone the pixels of a learned exposure, while a defect
 * keeps its contrast against its own part: one gain for the whole image, colour balance kept.
 * Chosen on training data (BENCHMARKS.md "Exposure evened out").
 */
import { PRESETS } from "./options";
import { tensorSize } from "./tensor";
import type { PreprocessOptions, Tensor } from "./types";

/** How a tensor was normalised: value = (pixel / maxPixelValue * scale - mean[c]) / std[c]. */
export type TensorNormalisation = Pick<PreprocessOptions, "mean" | "std" | "scale">;

/** The ImageNet preset's, assumed where a tensor does not say how it was made. */
export const IMAGENET_NORMALISATION: TensorNormalisation = Object.freeze({
  scale: 1,
  mean: PRESETS.imagenet.mean ?? [0, 0, 0],
  std: PRESETS.imagenet.std ?? [1, 1, 1],
});

/** The mean of ImageNet's channel means (0.485, 0.456, 0.406), on the 0..1 pixel scale. */
export const EVEN_EXPOSURE_TARGET = 0.449;
/** A nearly black image is not brightened beyond this, nor a white one darkened beyond its inverse. */
export const MAX_EXPOSURE_GAIN = 8;

export function channelStats(norm: TensorNormalisation, c: number): { mean: number; std: number } {
  // One value for every channel where the options hold one (a gray preset feeding rgb).
  return { mean: norm.mean[c] ?? norm.mean[0] ?? 0, std: norm.std[c] ?? norm.std[0] ?? 1 };
}

/** The image's mean pixel value on the 0..1 scale, over every channel. */
export function meanBrightness(tensor: Tensor, norm: TensorNormalisation): number {
  const { width, height, channels } = tensorSize(tensor);
  const plane = width * height;
  const nchw = tensor.layout === "NCHW";
  const { data } = tensor;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    if (nchw) for (let i = c * plane, end = i + plane; i < end; i++) sum += data[i] as number;
    else for (let i = c; i < data.length; i += channels) sum += data[i] as number;
    const { mean, std } = channelStats(norm, c);
    total += (sum / plane) * std + mean;
  }
  return total / (channels * norm.scale);
}

/** The gain `evenExposure` applies: the target over the mean, within [1 / MAX, MAX]; 1 for an image with no light. */
export function exposureGain(tensor: Tensor, norm: TensorNormalisation): number {
  const brightness = meanBrightness(tensor, norm);
  if (!(brightness > 0)) return 1;
  return Math.min(MAX_EXPOSURE_GAIN, Math.max(1 / MAX_EXPOSURE_GAIN, EVEN_EXPOSURE_TARGET / brightness));
}

/**
 * A new tensor whose pixels are `tensor`'s times exposureGain, normalised as before:
 * x' = g x + (g - 1) mean[c] / std[c], which is (g p scale - mean[c]) / std[c] for x's pixel p.
 */
export function evenExposure(tensor: Tensor, norm: TensorNormalisation): Tensor {
  const gain = exposureGain(tensor, norm);
  const { width, height, channels } = tensorSize(tensor);
  const plane = width * height;
  const nchw = tensor.layout === "NCHW";
  const { data } = tensor;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    const { mean, std } = channelStats(norm, c);
    const shift = ((gain - 1) * mean) / std;
    if (nchw) for (let i = c * plane, end = i + plane; i < end; i++) out[i] = gain * (data[i] as number) + shift;
    else for (let i = c; i < data.length; i += channels) out[i] = gain * (data[i] as number) + shift;
  }
  return { data: out, dims: [...tensor.dims], layout: tensor.layout };
}
