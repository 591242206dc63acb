/** Plain data passed between the image stages. Layouts are named in fields, never implied. */

export type PixelArray = Uint8Array | Uint16Array;

/** Interleaved (HWC) pixels after EXIF orientation has been applied. */
export interface RawImage {
  data: PixelArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  bitDepth: 8 | 16;
}

/** What a probe of the encoded bytes tells without decoding the pixels. */
export interface ImageInfo {
  format: string;
  /** Displayed size, i.e. with EXIF orientation applied (width and height swapped for 90-degree rotations). */
  width: number;
  height: number;
  channels: number;
  bitDepth: 8 | 16;
  orientation: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export type ResizeMode = "stretch" | "letterbox" | "center-crop";
export type ColorMode = "rgb" | "bgr" | "gray";
export type TensorLayout = "NCHW" | "NHWC";
export type ResizeKernel = "nearest" | "linear" | "cubic" | "lanczos3";

export interface PreprocessOptions {
  /** Tensor size in pixels. */
  width: number;
  height: number;
  resize: ResizeMode;
  kernel: ResizeKernel;
  /** Letterbox padding on the 8-bit scale (114 for Ultralytics YOLO). */
  padValue: number;
  /** Region of the oriented source image to use; null = whole image. */
  roi: Rect | null;
  color: ColorMode;
  layout: TensorLayout;
  /** value = (pixel / maxPixelValue * scale - mean[c]) / std[c]; scale 255 gives raw 0..255 inputs. */
  scale: number;
  /** One entry per output channel (1 for gray, 3 for rgb/bgr). */
  mean: number[];
  std: number[];
}

export interface Tensor {
  data: Float32Array;
  /** [1, C, H, W] for NCHW, [1, H, W, C] for NHWC. */
  dims: number[];
  layout: TensorLayout;
}

/**
 * Axis-aligned affine map from source-image pixels to tensor pixels, in continuous
 * coordinates where pixel i covers [i, i + 1):
 *   tensorX = (sourceX - roi.x) * scaleX + offsetX
 *   tensorY = (sourceY - roi.y) * scaleY + offsetY
 * Letterbox has a positive offset (the padding), center-crop a negative one.
 */
export interface Transform {
  source: { width: number; height: number };
  roi: Rect;
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  /** Tensor size. */
  width: number;
  height: number;
}

/** A score map (row-major, one value a pixel). */
export interface ScoreMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** Whose pixels a map on a message is in: the original image's, or the model tensor's. */
export type MapSpace = "original" | "model";

/** msg.anomalyMap as the detector writes it; downstream nodes read `space` to place it. */
export interface MessageScoreMap extends ScoreMap {
  space: MapSpace;
}

/** msg.mask as the threshold node writes it: non-zero = defect pixel. */
export interface BinaryMask {
  data: ArrayLike<number>;
  width: number;
  height: number;
  space: MapSpace;
  /** The pixel threshold the mask was made with, when known. */
  threshold?: number;
}
