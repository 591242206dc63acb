/** Turning anomaly scores into OK / UNCERTAIN / NG, with thresholds fixed or calibrated in the flow. */
export { conformalThreshold, minimumGoodScores, PROMISE_CONFIDENCE, sigmaThreshold, type FrrPromise } from "./calibrate-good";
export { defectBandStart, labelledReport, recallLowerBound, type LabelledReport, type ReviewBand } from "./calibrate-review";
export { f1Threshold, recallThreshold, type F1Choice, type RecallChoice } from "./calibrate-labelled";
export { computeCalibration, type CalibrationSamples } from "./calibrate";
export { readScoreMap } from "./input";
export { labelFromPath, sampleLabel } from "./labels";
export { thresholdMap } from "./mask";
export {
  BAND_SOURCES,
  DEFAULT_CALIBRATION_COUNT,
  DEFAULT_FIXED_THRESHOLD,
  DEFAULT_FRR_PERCENT,
  DEFAULT_K,
  DEFAULT_RECALL_PERCENT,
  MAX_CALIBRATION_COUNT,
  calibrationParameters,
  parseThresholdOptions,
  type BandSource,
  type ThresholdOptions,
} from "./options";
export {
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  checkRecordMatches,
  parseCalibrationRecord,
  serialiseCalibration,
  type CalibrationRecord,
  type CalibrationStats,
} from "./record";
export { ThresholdSession, type Decision, type SampleAnswer, type SessionState } from "./session";
export { mean, quantile, sampleStandardDeviation, summarize, type ScoreStats } from "./statistics";
export { CALIBRATION_EXTENSION, CALIBRATION_FOLDER, calibrationFilePath, deleteCalibration, loadCalibration, saveCalibration } from "./store";
export * from "./types";
export { bandThresholds, decideVerdict, INITIAL_STREAM, lowerBy, type StreamState, type VerdictResult } from "./verdict";
