/**
 * Errors raised by the core. `code` is a stable key that the Node-RED glue turns into a
 * translated message (`<node-type>.errors.<code>`), so the core stays free of i18n and the
 * CLI can still print `message`, which is plain English for logs.
 */
export type ErrorCode =
  // images
  | "notAnImage"
  | "unsupportedFormat"
  | "corruptImage"
  | "pixelLimit"
  | "imageTooSmall"
  | "noImageInput"
  // files, folders, cameras
  | "fileNotFound"
  | "fileReadFailed"
  | "fileTooLarge"
  | "pathOutsideFolder"
  | "fileWriteFailed"
  | "folderNotFound"
  | "fetchFailed"
  | "fetchTimeout"
  | "fetchStatus"
  | "fetchTooLarge"
  | "urlNotAllowed"
  | "missingSource"
  | "watchFailed"
  // options
  | "invalidOption"
  // models
  | "modelNotFound"
  | "modelLoadFailed"
  | "inputNameMismatch"
  | "inputTypeMismatch"
  | "inputShapeMismatch"
  | "inferenceFailed"
  | "graphInvalid"
  // template comparison
  | "imageSizeMismatch"
  // anomalib exports
  | "anomalibMetadataMissing"
  | "anomalibMetadataInvalid"
  // detector: learning in the flow and saved models
  | "noTensorInput"
  | "notTrained"
  | "learningUnsupported"
  | "noTrainingImages"
  | "preprocessMismatch"
  | "modelMismatch"
  | "modelFileInvalid"
  | "modelFileVersion"
  | "noKeptImages"
  // threshold: calibration
  | "noScoreInput"
  | "notCalibrated"
  | "calibrationFailed"
  // mask-to-region
  | "noMaskInput"
  | "maskSizeMismatch"
  | "noTransformInput"
  // alarm
  | "noVerdictInput"
  // supervised models (classification, YOLO detection, segmentation)
  | "unknownModelFormat"
  | "classNamesInvalid"
  // detector: learning on the line (confirmed parts, versions)
  | "unknownPart"
  | "learningStopped"
  | "noPreviousVersion"
  // overload: a bounded input queue had no room
  | "queueFull"
  // threshold: the station's result id counter could not be read or saved
  | "resultIdsFailed"
  // join views: the views of one part
  | "missingView"
  | "duplicateView"
  | "lateView"
  | "unknownView"
  | "noPartId"
  // scale-out over MQTT: parts, results and models on the wire
  | "wireFormatInvalid"
  | "wireVersion"
  | "partLost"
  | "partIdReused"
  // vision station: an optional package is not installed, the OPC UA server failed, a message without a record
  | "dependencyMissing"
  | "serverFailed"
  | "noResultInput";

export type ErrorDetails = Record<string, string | number>;

export class DefectError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DefectError";
    this.code = code;
    this.details = details;
  }
}

export function isDefectError(value: unknown): value is DefectError {
  return value instanceof DefectError;
}

/** Message text of any thrown value, for wrapping library errors without losing their words. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
