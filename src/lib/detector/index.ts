/** The detector core: options, learning rounds, saved models and inspections (no Node-RED). */
export { DetectorEngine, type EngineOptions, type InspectionResult, type LabelledSample, type LearningState, type LearnProgress } from "./engine";
export { DEFAULT_DRIFT_RATIO, DEFAULT_DRIFT_WINDOW, type DriftReport } from "./online/drift";
export { DEFAULT_KEEP_VERSIONS, incomingPath, MAX_KEEP_VERSIONS, ModelVersions, versionPath } from "./storage/model-versions";
export { DEFAULT_ONLINE_CONFIG, type ConfirmAnswer, type Confirmation, type OnlineConfig } from "./online/online-learner";
export { DEFAULT_RECENT_PARTS, MAX_RECENT_PARTS } from "./online/recent-parts";
export { folderSamples, listTrainingImages } from "./folder";
export { MODEL_FOLDER, modelFilePath, openMethod } from "./methods/open-method";
export {
  DEFAULT_FOLDER_PRESET,
  DEFAULT_FOLDER_SIZE,
  DEFAULT_LAYERS,
  DEFAULT_TRAIN_COUNT,
  MAP_SIZES,
  MAX_DETECTIONS,
  MAX_TOP_K,
  MAX_TRAIN_COUNT,
  parseDetectorOptions,
  type DetectorOptions,
  type MapSize,
  type SupervisedConfig,
} from "./options";
export { outputMap } from "./output-map";
export { describePreprocess } from "./methods/supervised-method";
export { checkSample, preprocessDifferences, shapeOf, type SampleShape } from "./sample";
export * from "./types";
