/** Supervised models: classification, YOLO detection, instance and semantic segmentation, reconstruction (autoencoders). */
export * from "./types";
export { openSupervisedModel, openSupervisedModelFromBytes } from "./model";
export type { OpenSupervisedOptions } from "./model";
export { TASK_CHOICES, resolveSupervisedOptions } from "./options";
export type { ResolvedSupervisedOptions } from "./options";
export { DEFAULT_PROTO_CHANNELS, END_TO_END_MAX_ROWS, describeOutputs, detectFormat, isEndToEnd, resolveHead, unknownFormat } from "./format";
export type { DetectedFormat, DetectionHead, FormatHints, HeadLayout, ModelFormat } from "./format";
export {
  CLASSIFIER_DEFAULT_SIZE,
  IMAGENET_MEAN,
  IMAGENET_STD,
  YOLO_DEFAULT_SIZE,
  YOLO_PAD_VALUE,
  describeInput,
  isUltralytics,
  parseImageSize,
  suggestPreprocess,
} from "./family-preprocess";
export type { InputDescription } from "./family-preprocess";
export { parseOnnxMetadata, readOnnxMetadata } from "./metadata";
export {
  MAX_CLASS_INDEX,
  defaultClassName,
  parseJsonNames,
  parseLineNames,
  parseNameList,
  parseNamesText,
  parsePythonNames,
  readNamesFile,
  resolveClassNames,
} from "./names";
export type { NameCandidates, NamesSource, ResolvedNames } from "./names";
export { parsePythonLiteral } from "./python-literal";
export type { LiteralItem, PythonLiteral } from "./python-literal";
export { PROBABILITY_SUM_TOLERANCE, isProbabilityRow, softmax, toProbabilities, topK } from "./classify";
export { END_TO_END_VALUES, V5_BOX_VALUES, V8_BOX_ROWS, decodeEndToEnd, decodeYoloV5, decodeYoloV8 } from "./yolo-decode";
export { MAX_NMS_CANDIDATES, nonMaxSuppression } from "./nms";
export { detectCandidates, placeBox } from "./detect-boxes";
export type { BoxOptions } from "./detect-boxes";
export { floatsToHalf, fromHalfBits, halfToFloats, toHalfBits } from "./half";
export { decodeInstanceSegmentation } from "./segment-instance";
export type { InstanceSegmentation, InstanceSegmentationOptions } from "./segment-instance";
export { decodeSemantic } from "./semantic";
export { ambiguousReconstruction, decodeReconstruction, fitsInputShape, isReconstructionShaped } from "./reconstruction";
export type { ReconstructionResult } from "./reconstruction";
export type { RawOutput, SemanticOptions, SemanticResult } from "./semantic";
