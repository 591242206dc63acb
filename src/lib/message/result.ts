/**
 * msg.result: the record of one inspection result, on every verdict message. The threshold node
 * makes it when it decides the verdict; mask-to-region completes it with the regions. It holds
 * what a result is filed and traced by (ids, times, the model and calibration that made it), in
 * plain JSON, so a PLC write, a dashboard, an archive or an OPC UA result (OPC 40100's
 * ResultDataType: ResultId, PartId, JobId, recipe ids, CreationTime, ProcessingTimes, with the
 * verdict as ResultContent) can take it as it is.
 */
import type { Region } from "../regions/types";
import type { ThresholdMode, Verdict } from "../threshold/types";
import { DefectError } from "../errors";
import { readIdentifier } from "./identifier";
import { readRecipe } from "./recipe";
import { finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";
import type { RegionBox, ViewRegion } from "./regions";
import { readTimings } from "./timings";

/** Milliseconds each stage spent on this part (msg.timings); null for a stage that did not run or did not say. */
export interface ResultTimes {
  sourceMs: number | null;
  preprocessMs: number | null;
  detectorMs: number | null;
  thresholdMs: number | null;
  regionsMs: number | null;
}

/** The msg.timings entries the record keeps, one per node of the line. */
const STAGE_TIMINGS = ["sourceMs", "preprocessMs", "detectorMs", "thresholdMs", "regionsMs"] as const satisfies ReadonlyArray<keyof ResultTimes>;

/**
 * The model that scored the part, as the detector described it in its msg.payload. `created` (the
 * fit) and `version` (saves since that fit: confirmed parts, refreshes) together name a learned
 * model; `file` names a model made elsewhere (anomalib export, supervised ONNX model).
 */
export interface ResultModel {
  method: string | null;
  created: string | null;
  version: number | null;
  file: string | null;
}

/** The threshold that decided: its mode, the calibration's time (null in fixed mode) and the thresholds in effect. */
export interface ResultCalibration {
  mode: ThresholdMode;
  created: string | null;
  threshold: number;
  lowThreshold: number | null;
}

/** What the flow says the part is: part, job and recipe ids (null when it says nothing). */
export interface ResultLabels {
  partId: string | null;
  jobId: string | null;
  recipe: string | null;
}

export interface ResultRecord extends ResultLabels {
  /** 1, 2, 3...: unique and increasing per station, also across restarts (a restart may skip some). */
  id: number;
  /** The station that numbered it: the threshold node's id. */
  station: string;
  /** ISO 8601 UTC time the verdict was decided. */
  created: string;
  verdict: Verdict;
  score: number;
  times: ResultTimes;
  model: ResultModel;
  calibration: ResultCalibration;
  /** From mask-to-region, in original image pixels; null when no mask-to-region has run on the message. */
  regions: Region[] | null;
}

/** What the threshold node knows when it decides, besides what the message carries. */
export interface ResultFacts {
  id: number;
  station: string;
  created: Date;
  verdict: Verdict;
  score: number;
  calibration: ResultCalibration;
  /** The detector's msg.payload as the threshold node received it (its model description and handed-over part id). */
  detection: unknown;
  labels: ResultLabels;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/**
 * The part, job and recipe ids of a message; invalidOption for one that is neither text nor a
 * number. The part id is the one the detector handed over in its msg.payload.partId (read from
 * its *Part id in* property), else msg.partId.
 */
export function readResultLabels(msg: MessageView, detection: unknown): ResultLabels {
  const handed = isRecord(detection) ? text(detection["partId"]) : null;
  return {
    partId: handed ?? readIdentifier(msg.partId, "partId") ?? null,
    jobId: readIdentifier(msg.jobId, "jobId") ?? null,
    recipe: readRecipe(msg) ?? null,
  };
}

/** The model description in the detector's msg.payload; all null for a bare score. */
export function resultModel(detection: unknown): ResultModel {
  if (!isRecord(detection)) return { method: null, created: null, version: null, file: null };
  const model = isRecord(detection["model"]) ? detection["model"] : {};
  // An anomalib export's model.version is its export contract ("v2"), not a version of the model.
  const version = finiteNumber(model["version"]);
  return { method: text(detection["method"]), created: text(model["created"]), version: version ?? null, file: text(model["file"]) };
}

function resultTimes(msg: MessageView): ResultTimes {
  const timings = readTimings(msg);
  const times = {} as ResultTimes;
  for (const stage of STAGE_TIMINGS) times[stage] = timings[stage] ?? null;
  return times;
}

/** Writes msg.result (replacing any incoming one) with the stage times msg.timings holds now; returns it. */
export function writeResult(msg: MessageFields, facts: ResultFacts): ResultRecord {
  const record: ResultRecord = {
    id: facts.id,
    station: facts.station,
    ...facts.labels,
    created: facts.created.toISOString(),
    verdict: facts.verdict,
    score: facts.score,
    times: resultTimes(msg),
    model: resultModel(facts.detection),
    calibration: facts.calibration,
    regions: null,
  };
  msg["result"] = record;
  return record;
}

/**
 * mask-to-region's part: the regions (a copy, so a later change to msg.regions does not rewrite
 * the record) and its time. A message without a record (no threshold node before) is left as it is.
 */
export function completeResult(msg: MessageFields, regions: readonly Region[]): void {
  const record = msg["result"];
  if (!isRecord(record)) return;
  record["regions"] = regions.map((region) => ({ ...region, centroid: { ...region.centroid } }));
  const times = isRecord(record["times"]) ? record["times"] : {};
  times["regionsMs"] = readTimings(msg)["regionsMs"] ?? null;
  record["times"] = times;
}

/** The result id and part id of msg.result, for the alarm; null where the message has none (a hand-made verdict). */
export function readResultRef(msg: MessageView): { id: number | null; partId: string | null } {
  const record = msg.result;
  if (!isRecord(record)) return { id: null, partId: null };
  const id = finiteNumber(record["id"]);
  return { id: id !== undefined && Number.isSafeInteger(id) && id > 0 ? id : null, partId: text(record["partId"]) };
}

/** Where a view's verdict was numbered, and what its record says beyond the verdict (for the join views node). */
export interface ResultSource {
  station: string | null;
  id: number | null;
  jobId: string | null;
  recipe: string | null;
  /** The record's stage times; null without a record. */
  times: ResultTimes | null;
}

/** The station, id, job, recipe and stage times of msg.result; nulls where the message has no record (a hand-made verdict). */
export function readResultSource(msg: MessageView): ResultSource {
  const record = msg.result;
  if (!isRecord(record)) return { station: null, id: null, jobId: null, recipe: null, times: null };
  const stored = isRecord(record["times"]) ? record["times"] : {};
  const times = {} as ResultTimes;
  for (const stage of STAGE_TIMINGS) times[stage] = finiteNumber(stored[stage]) ?? null;
  return { station: text(record["station"]), id: readResultRef(msg).id, jobId: text(record["jobId"]), recipe: text(record["recipe"]), times };
}

/** One view of a part in a joined record: its verdict, score, where it was numbered, and its regions. */
export interface ResultView {
  view: string;
  verdict: Verdict;
  score: number | null;
  /** The station (threshold node) that numbered the view's own result, and that result's id; null without a record. */
  station: string | null;
  resultId: number | null;
  /** msg.regions of the view, in its own image's pixels; null when no mask to region ran on it. */
  regions: RegionBox[] | null;
}

/**
 * The record of a part seen in several views, made by the join views node, which is then its
 * station. Fields as a threshold node's record; model and calibration are each view's own (in
 * its record, named by station and resultId), so they are null here.
 */
export interface JoinedResultRecord extends ResultLabels {
  id: number;
  station: string;
  created: string;
  verdict: Verdict;
  /** The highest score of the views; null when no view had one. */
  score: number | null;
  /** Per stage, the longest time any view took; null where no view reported the stage. */
  times: ResultTimes;
  model: null;
  calibration: null;
  /** Every view's regions, each named by its view; null when no view had regions. */
  regions: ViewRegion[] | null;
  /** The views that arrived, in the order the node expects them. */
  views: ResultView[];
  /** Expected views that did not arrive in time; [] when all did. */
  missing: string[];
}

/** What the join views node knows when it has joined a part. */
export interface JoinedResultFacts {
  id: number;
  station: string;
  created: Date;
  verdict: Verdict;
  score: number | null;
  labels: ResultLabels;
  views: readonly ResultView[];
  missing: readonly string[];
  /** The stage times of each view's record (null for a view without one). */
  times: ReadonlyArray<ResultTimes | null>;
}

function longestTimes(all: ReadonlyArray<ResultTimes | null>): ResultTimes {
  const times = {} as ResultTimes;
  for (const stage of STAGE_TIMINGS) {
    const values = all.map((t) => t?.[stage] ?? null).filter((v): v is number => v !== null);
    times[stage] = values.length > 0 ? Math.max(...values) : null;
  }
  return times;
}

/** Writes the joined record as msg.result (replacing the last view's own); returns it. */
export function writeJoinedResult(msg: MessageFields, facts: JoinedResultFacts): JoinedResultRecord {
  // Field by field: a caller's view objects may carry more (part id, times) than the record lists.
  const views: ResultView[] = facts.views.map((v) => ({
    view: v.view,
    verdict: v.verdict,
    score: v.score,
    station: v.station,
    resultId: v.resultId,
    regions: v.regions === null ? null : v.regions.map((region) => ({ ...region })),
  }));
  const withRegions = views.filter((v) => v.regions !== null);
  const record: JoinedResultRecord = {
    id: facts.id,
    station: facts.station,
    ...facts.labels,
    created: facts.created.toISOString(),
    verdict: facts.verdict,
    score: facts.score,
    times: longestTimes(facts.times),
    model: null,
    calibration: null,
    regions: withRegions.length === 0 ? null : withRegions.flatMap((v) => (v.regions ?? []).map((region) => ({ ...region, view: v.view }))),
    views,
    missing: [...facts.missing],
  };
  msg["result"] = record;
  return record;
}

/** A verdict message's record as the archive files it: the verdict, its ids and the record itself. */
export interface VerdictRecord {
  verdict: Verdict;
  /** The result's number at its station; null when the record has none. */
  id: number | null;
  partId: string | null;
  /** The whole record, plain JSON, as the threshold node and mask-to-region wrote it. */
  record: Record<string, unknown>;
}

const RECORD_VERDICTS: readonly Verdict[] = ["OK", "NG", "UNCERTAIN"];

/** msg.result when it carries a verdict (OK, NG, UNCERTAIN); undefined otherwise. */
export function readVerdictRecord(msg: MessageView): VerdictRecord | undefined {
  const record = msg.result;
  if (!isRecord(record)) return undefined;
  const verdict = RECORD_VERDICTS.find((v) => v === record["verdict"]);
  if (verdict === undefined) return undefined;
  const ref = readResultRef(msg);
  return { verdict, id: ref.id, partId: ref.partId, record };
}

/**
 * The whole record of msg.result, for nodes that file results (the vision station): a deep copy,
 * so a later change on the message does not change what was filed. null when the message has no
 * msg.result; invalidOption naming the field when it is not a record the threshold node wrote
 * (a positive whole id, a station, an ISO time, a verdict and a finite score).
 */
export function readResultRecord(msg: MessageView): ResultRecord | null {
  const record = msg.result;
  if (record === undefined || record === null) return null;
  const refuse = (field: string, value: unknown): never => {
    throw new DefectError("invalidOption", `msg.result.${field} is not what the threshold node writes, got ${JSON.stringify(value) ?? String(value)}`, {
      option: `msg.result.${field}`,
      value: JSON.stringify(value) ?? String(value),
    });
  };
  if (!isRecord(record)) return refuse("", record);
  const id = record["id"];
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) refuse("id", id);
  if (text(record["station"]) === null) refuse("station", record["station"]);
  const created = record["created"];
  if (typeof created !== "string" || Number.isNaN(Date.parse(created))) refuse("created", created);
  if (!RECORD_VERDICTS.includes(record["verdict"] as Verdict)) refuse("verdict", record["verdict"]);
  if (finiteNumber(record["score"]) === undefined) refuse("score", record["score"]);
  for (const label of ["partId", "jobId", "recipe"] as const) {
    const value = record[label];
    if (value !== null && value !== undefined && typeof value !== "string") refuse(label, value);
  }
  // The record is plain JSON by contract: a JSON round trip is its deep copy.
  return JSON.parse(JSON.stringify(record)) as ResultRecord;
}
