export * from "./types";
export { DEFAULT_MAX_PIXELS, decodeImage, probeImage, type DecodeLimits } from "./decode";
export {
  COLOR_MODES,
  DEFAULT_PREPROCESS_OPTIONS,
  MAX_MESSAGE_TENSOR_PIXELS,
  MAX_TENSOR_SIDE,
  PRESET_NAMES,
  PRESETS,
  RESIZE_KERNELS,
  RESIZE_MODES,
  TENSOR_LAYOUTS,
  parsePreprocessOptions,
  type PresetName,
} from "./options";
export { preprocessImage, type PreprocessResult } from "./preprocess";
export { boxToSource, computeTransform, mapToSource, pointToSource, pointToTensor, resizedSize } from "./transform";
export { LUMA_WEIGHTS, tensorSize, toPaddedTensor, toTensor, type TensorCanvas, type TensorOptions, type TensorSize } from "./tensor";
export { toImageBuffer } from "./input";
