/**
 * The message contract of docs/messages.md in code: each msg property that more than one node
 * (or the offline line) reads or writes has its one reader and one writer here, so every node
 * accepts and produces the same shapes. No Node-RED here: reading a property named in the
 * editor (RED.util.getMessageProperty) stays in src/nodes/shared.
 */
export { detectorAnswerOf, isControlAnswer } from "./answers";
export { HANDED_CALIBRATION_KINDS, readHandedCalibration, type HandedCalibration, type HandedCalibrationKind } from "./calibration";
export { findMessageImage, messageImageSize, setMessageImage, writeMessageImage, type FoundImage } from "./image";
export { writeQueueInfo, type MessageQueueInfo } from "./queue";
export { describe, finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";
export { readRegions, readRegionsIfAny, regionCountOf, writeRegions, writeViewRegions, type RegionBox, type ViewRegion } from "./regions";
export { readConfirm, VERDICTS, type ConfirmRequest, type ConfirmVerdict, type DefectRegion } from "./confirm";
export { asksToLearn, endCommand, isCalibrationSample, readCommand, teachesTheLine } from "./request";
export { readIdentifier } from "./identifier";
export { readPartId } from "./part-id";
export { MAX_RECIPE_LENGTH, readRecipe, writeRecipe } from "./recipe";
export { writeJobMessage, type JobMessage } from "./job";
export {
  completeResult,
  readResultLabels,
  readResultRecord,
  readResultRef,
  readResultSource,
  readVerdictRecord,
  resultModel,
  writeJoinedResult,
  writeResult,
  type JoinedResultFacts,
  type JoinedResultRecord,
  type ResultCalibration,
  type ResultFacts,
  type ResultLabels,
  type ResultModel,
  type ResultRecord,
  type ResultSource,
  type ResultTimes,
  type ResultView,
  type VerdictRecord,
} from "./result";
export { readOverlay } from "./overlay";
export { readScore, scoreOf } from "./score";
export {
  gridFaultText,
  invalidGrid,
  readAnomalyMap,
  readMask,
  readMaskValue,
  writeAnomalyMap,
  writeMask,
  type GridError,
  type GridFault,
  type GridProperty,
} from "./score-map";
export { readPreprocessing, readTensor, writePreprocessed, type Preprocessed } from "./tensor";
export { addTiming, readTimings } from "./timings";
export { readTensorTransform, readTransform, writeTransform } from "./transform";
export {
  clearMqttFields,
  readMqttDelivery,
  readPartInfo,
  writeMqttPublication,
  writePartInfo,
  writeResultRecord,
  type MqttDelivery,
  type MqttPublication,
  type PartInfo,
} from "./mqtt";
