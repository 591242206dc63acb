/**
 * The saved calibration: a small versioned JSON document. Parsing trusts nothing in the file;
 * a record made for another mode or with other parameters is refused by `checkRecordMatches`,
 * so a changed configuration never silently uses an old threshold.
 */
import { DefectError } from "../errors";
import type { FrrPromise } from "./calibrate-good";
import type { LabelledReport } from "./calibrate-review";
import { HANDED_CALIBRATION_KINDS, type HandedCalibration } from "../message/calibration";
import type { ScoreStats } from "./statistics";
import { CALIBRATED_MODES, type CalibratedMode, type CalibrationParameters } from "./types";
import { isRecord } from "../message";

export const CALIBRATION_FORMAT = "defect-threshold";
/**
 * 2 adds the good scores a detector handed over, the labelled defect scores, what those predict
 * (labelled) and the promise's confidence. Files of version 1 are read as they are (none of that).
 */
export const CALIBRATION_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, CALIBRATION_VERSION];
/** Indentation of the saved JSON: the file is small and people open it. */
const JSON_INDENT = 2;

/** How the threshold did on the samples it was calibrated with. */
export interface CalibrationStats {
  good?: ScoreStats;
  defect?: ScoreStats;
  /** Good samples at or above the threshold (they would be rejected). */
  falseRejects: number;
  /** Defect samples below the threshold (they would pass). */
  missed: number;
  /** F1 on the samples; only when there were defect samples. */
  f1?: number;
  /** With an uncertain band at calibration: the samples in it (sent to review), by label. */
  review?: { good: number; defect: number };
}

export interface CalibrationRecord {
  format: typeof CALIBRATION_FORMAT;
  /** Written as CALIBRATION_VERSION; a file of version 1 reads as 1. */
  version: number;
  mode: CalibratedMode;
  parameters: CalibrationParameters;
  /** NG at or above this score. */
  threshold: number;
  /** With the band in effect at calibration; the node applies its current band again on load. */
  lowThreshold?: number;
  samples: { good: number; defect: number };
  stats: CalibrationStats;
  /** Quantile mode: the false-reject rate promised for good parts not calibrated on. */
  promise?: FrrPromise;
  /**
   * The good scores a detector handed over with its learning result: the good samples of this
   * calibration and of the next ones (with labelled defects sent later) until the next fit.
   */
  handover?: HandedCalibration;
  /** The labelled defect samples' scores: the review band's start is placed from them again when *Recall* changes. */
  defectScores?: number[];
  /** With labelled defect samples: the recall expected at the threshold and the review band they suggest. */
  labelled?: LabelledReport;
  /** ISO time of the calibration. */
  created: string;
}

export function serialiseCalibration(record: CalibrationRecord): string {
  return `${JSON.stringify(record, null, JSON_INDENT)}\n`;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isNumberMap(value: unknown): value is Record<string, number> {
  return isRecord(value) && Object.values(value).every(isFiniteNumber);
}

function isScoreStats(value: unknown): value is ScoreStats {
  return (
    isRecord(value) &&
    isCount(value["count"]) &&
    isFiniteNumber(value["mean"]) &&
    isFiniteNumber(value["min"]) &&
    isFiniteNumber(value["max"]) &&
    (value["sd"] === null || isFiniteNumber(value["sd"]))
  );
}

function isScoreList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isFiniteNumber);
}

function isHandover(value: unknown): value is HandedCalibration {
  return isRecord(value) && HANDED_CALIBRATION_KINDS.some((k) => k === value["kind"]) && isScoreList(value["scores"]);
}

function isReviewBand(value: unknown): boolean {
  return (
    isRecord(value) &&
    ["lowThreshold", "recall", "review"].every((key) => isFiniteNumber(value[key])) &&
    isCount(value["reviewGood"]) &&
    isCount(value["reviewDefect"])
  );
}

function isLabelled(value: unknown): value is LabelledReport {
  return isRecord(value) && isFiniteNumber(value["recall"]) && isFiniteNumber(value["recallLow95"]) && (value["band"] === null || isReviewBand(value["band"]));
}

function isStats(value: unknown): value is CalibrationStats {
  const review = isRecord(value) ? value["review"] : undefined;
  return (
    isRecord(value) &&
    isCount(value["falseRejects"]) &&
    isCount(value["missed"]) &&
    (review === undefined || (isRecord(review) && isCount(review["good"]) && isCount(review["defect"]))) &&
    (value["good"] === undefined || isScoreStats(value["good"])) &&
    (value["defect"] === undefined || isScoreStats(value["defect"])) &&
    (value["f1"] === undefined || isFiniteNumber(value["f1"]))
  );
}

function invalid(path: string, reason: string): DefectError {
  return new DefectError("modelFileInvalid", `${path} is not a usable calibration file: ${reason}`, { path, reason });
}

/** The first field that is missing or malformed, or undefined when all are fine. */
function badField(value: Record<string, unknown>): string | undefined {
  const mode = value["mode"];
  const samples = value["samples"];
  const checks: Array<[string, boolean]> = [
    ["mode", typeof mode === "string" && (CALIBRATED_MODES as readonly string[]).includes(mode)],
    ["parameters", isNumberMap(value["parameters"])],
    ["threshold", isFiniteNumber(value["threshold"])],
    ["lowThreshold", value["lowThreshold"] === undefined || isFiniteNumber(value["lowThreshold"])],
    ["samples", isRecord(samples) && isCount(samples["good"]) && isCount(samples["defect"])],
    ["stats", isStats(value["stats"])],
    [
      "promise",
      value["promise"] === undefined ||
        (isRecord(value["promise"]) &&
          isFiniteNumber(value["promise"]["frr"]) &&
          isFiniteNumber(value["promise"]["frrBound95"]) &&
          (value["promise"]["confidence"] === undefined || isFiniteNumber(value["promise"]["confidence"]))),
    ],
    ["handover", value["handover"] === undefined || isHandover(value["handover"])],
    ["defectScores", value["defectScores"] === undefined || isScoreList(value["defectScores"])],
    ["labelled", value["labelled"] === undefined || isLabelled(value["labelled"])],
    ["created", typeof value["created"] === "string"],
  ];
  return checks.find(([, ok]) => !ok)?.[0];
}

/** Checks format, version and every field; `path` only names the file in errors. */
export function parseCalibrationRecord(value: unknown, path: string): CalibrationRecord {
  if (!isRecord(value) || value["format"] !== CALIBRATION_FORMAT) throw invalid(path, `it is not a ${CALIBRATION_FORMAT} file`);
  const version = value["version"];
  if (!READABLE_VERSIONS.some((v) => v === version)) {
    const shown = isFiniteNumber(version) ? version : String(version);
    throw new DefectError("modelFileVersion", `${path} has calibration format ${shown}; this package reads formats ${READABLE_VERSIONS.join(" and ")}`, {
      path,
      version: shown,
      supported: READABLE_VERSIONS.join(", "),
    });
  }
  const field = badField(value);
  if (field !== undefined) throw invalid(path, `field "${field}" is missing or malformed`);
  return value as unknown as CalibrationRecord;
}

function describeParameters(mode: string, parameters: CalibrationParameters): string {
  const list = Object.entries(parameters).map(([name, v]) => `${name} ${v}`);
  return list.length === 0 ? mode : `${mode} (${list.join(", ")})`;
}

function sameParameters(a: CalibrationParameters, b: CalibrationParameters): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/** A record is only used for the mode and parameters it was calibrated with. */
export function checkRecordMatches(record: CalibrationRecord, mode: CalibratedMode, parameters: CalibrationParameters, path: string): void {
  if (record.mode === mode && sameParameters(record.parameters, parameters)) return;
  const saved = describeParameters(record.mode, record.parameters);
  const now = describeParameters(mode, parameters);
  throw new DefectError("modelMismatch", `${path} was calibrated with mode ${saved}; the node now uses mode ${now}`, {
    path,
    differences: `saved ${saved}, now ${now}`,
  });
}
