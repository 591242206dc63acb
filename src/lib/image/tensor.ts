/**
 * Raw pixels -> normalised float tensor in one pass. Letterbox padding is written here rather
 * than by sharp because sharp scales background colours by 256 for 16-bit images, which would
 * not equal padValue / 255 on the 0..1 scale that models are trained with.
 */
import { DefectError } from "../errors";
import type { PreprocessOptions, RawImage, Tensor } from "./types";

/** A tensor's image geometry, whichever its layout. */
export interface TensorSize {
  width: number;
  height: number;
  channels: number;
}

export function tensorSize(tensor: Pick<Tensor, "dims" | "layout">): TensorSize {
  const nchw = tensor.layout === "NCHW";
  return {
    channels: tensor.dims[nchw ? 1 : 3] as number,
    height: tensor.dims[nchw ? 2 : 1] as number,
    width: tensor.dims[nchw ? 3 : 2] as number,
  };
}

export type TensorOptions = Pick<PreprocessOptions, "color" | "layout" | "scale" | "mean" | "std">;

/**
 * Rec. 601 luma on gamma-encoded values, as PIL's convert("L"), OpenCV and torchvision compute
 * gray, so a gray model sees the values it was trained on (libvips uses linear-light luminance).
 */
export const LUMA_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** padValue is given on the 8-bit scale whatever the image depth. */
const PAD_VALUE_MAX = 255;
const MAX_PIXEL_VALUE: Record<RawImage["bitDepth"], number> = { 8: 255, 16: 65535 };
const RGB_CHANNELS = 3;

/** Where an image lands on a tensor of canvas size; canvas pixels it does not cover get padValue. */
export interface TensorCanvas {
  width: number;
  height: number;
  /** Canvas position of the image's top-left pixel: positive leaves padding, negative crops. */
  left: number;
  top: number;
  /** On the 8-bit scale (0..255), for both 8- and 16-bit images. */
  padValue: number;
}

function checkImage(image: RawImage): void {
  const expected = image.width * image.height * image.channels;
  if (!(image.width >= 1 && image.height >= 1) || image.data.length !== expected) {
    throw new DefectError("corruptImage", `Raw image of ${image.width}x${image.height}x${image.channels} needs ${expected} values, got ${image.data.length}.`, {
      width: image.width,
      height: image.height,
      channels: image.channels,
      values: image.data.length,
    });
  }
}

function checkStats(name: "mean" | "std", values: number[], channels: number, color: string): void {
  if (values.length !== channels) {
    throw new DefectError("invalidOption", `Option "${name}" needs ${channels} value(s) for color "${color}", got ${values.length}.`, {
      option: name,
      value: values.join(","),
    });
  }
}

/** Normalises an image that already has the tensor size. */
export function toTensor(image: RawImage, options: TensorOptions): Tensor {
  return toPaddedTensor(image, options, { width: image.width, height: image.height, left: 0, top: 0, padValue: 0 });
}

/**
 * value = (pixel / maxPixelValue * scale - mean[c]) / std[c], written straight into NCHW or NHWC.
 * Gray images feed all three rgb/bgr channels; colour images become gray by LUMA_WEIGHTS;
 * an alpha channel, if any, is ignored.
 */
export function toPaddedTensor(image: RawImage, options: TensorOptions, canvas: TensorCanvas): Tensor {
  checkImage(image);
  const outChannels = options.color === "gray" ? 1 : RGB_CHANNELS;
  checkStats("mean", options.mean, outChannels, options.color);
  checkStats("std", options.std, outChannels, options.color);

  const { width: W, height: H } = canvas;
  const plane = W * H;
  const out = new Float32Array(plane * outChannels);
  const nchw = options.layout === "NCHW";
  const channelStride = nchw ? plane : 1;
  const pixelStride = nchw ? 1 : outChannels;
  const maxValue = MAX_PIXEL_VALUE[image.bitDepth];
  const { scale } = options;

  const x0 = Math.max(0, canvas.left);
  const x1 = Math.min(W, canvas.left + image.width);
  const y0 = Math.max(0, canvas.top);
  const y1 = Math.min(H, canvas.top + image.height);
  const covered = x0 === 0 && y0 === 0 && x1 === W && y1 === H;

  const src = image.data;
  const stride = image.channels;
  const colourSource = image.channels >= RGB_CHANNELS;
  const [lumaR, lumaG, lumaB] = LUMA_WEIGHTS;

  for (let c = 0; c < outChannels; c++) {
    const mean = options.mean[c]!;
    const std = options.std[c]!;
    const base = c * channelStride;
    if (!covered) {
      const pad = ((canvas.padValue / PAD_VALUE_MAX) * scale - mean) / std;
      for (let i = 0; i < plane; i++) out[base + i * pixelStride] = pad;
    }
    // bgr reads the source channels in reverse; a gray source has only channel 0.
    const srcChannel = !colourSource ? 0 : options.color === "bgr" ? RGB_CHANNELS - 1 - c : c;
    const luma = colourSource && options.color === "gray";
    for (let y = y0; y < y1; y++) {
      let s = ((y - canvas.top) * image.width + (x0 - canvas.left)) * stride;
      let o = base + (y * W + x0) * pixelStride;
      if (luma) {
        for (let x = x0; x < x1; x++, s += stride, o += pixelStride) {
          const v = lumaR * src[s]! + lumaG * src[s + 1]! + lumaB * src[s + 2]!;
          out[o] = ((v / maxValue) * scale - mean) / std;
        }
      } else {
        s += srcChannel;
        for (let x = x0; x < x1; x++, s += stride, o += pixelStride) {
          out[o] = ((src[s]! / maxValue) * scale - mean) / std;
        }
      }
    }
  }
  const dims = nchw ? [1, outChannels, H, W] : [1, H, W, outChannels];
  return { data: out, dims, layout: options.layout };
}
