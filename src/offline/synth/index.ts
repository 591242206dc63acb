/** Deterministic synthetic parts with defects and masks: the package's demo and test data. */
export { DEFAULT_IMAGE_SIZE, MAX_IMAGE_SIZE, MAX_SEED, MIN_IMAGE_SIZE, TEXTURE_KINDS, generateGood, isTextureKind, type TextureKind } from "./textures";
export { DEFECT_KINDS, generateDefect, isDefectKind, paintDefect, type DefectKind, type DefectSample } from "./defects";
export {
  ALIGNED_KINDS,
  DEFAULT_SEED,
  DEFAULT_TRAIN_COUNT,
  MAX_TRAIN_COUNT,
  testCountFor,
  writeSyntheticDataset,
  type DatasetFolder,
  type DatasetSummary,
  type KindSummary,
  type SyntheticDatasetOptions,
} from "./dataset";
