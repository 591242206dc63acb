/** anomalib ONNX exports (0.x, 1.x, 2.x) read on anomalib's normalised scale. */
export { openAnomalibModel } from "./model";
export type { AnomalibModel, AnomalibPreprocess, AnomalibVersion, OpenAnomalibOptions } from "./model";
export type { AnomalibPrediction, OutputTensor, Outputs } from "./postprocess";
export { postprocessRaw, postprocessV2 } from "./postprocess";
export { RAW_OUTPUT, V2_OUTPUTS, detectContract, detectInput, roleOfShape } from "./detect";
export type { Contract, InputContract, OutputRole, RawContract, V2Contract } from "./detect";
export { LEGACY_METADATA_FILE, METADATA_FILE, findMetadataFile, parseAnomalibMetadata, readAnomalibMetadata } from "./metadata";
export type { AnomalibMetadata } from "./metadata";
export { NORMALIZED_THRESHOLD, normalizeMap, normalizeValue } from "./normalize";
export type { NormalizationStats } from "./normalize";
export { parseV0Transform } from "./albumentations";
export type { Size, V0Transform } from "./albumentations";
export { parsePythonJson } from "./python-json";
