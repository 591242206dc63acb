/**
 * metadata.json written beside anomalib 0.x and 1.x exports. Their graphs output raw scores,
 * and the thresholds and min/max statistics needed to normalise them exist only in this file
 * (2.x bakes them into the graph and writes no file).
 *
 * 1.x keys: image_threshold, pixel_threshold, pred_scores.min/max, anomaly_maps.min/max
 * (from MinMaxNormalizationCallback's metric collection). 0.x keys: image_threshold,
 * pixel_threshold, one shared min/max, and the albumentations "transform".
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { DefectError, describeError } from "../../errors";
import { type V0Transform, parseV0Transform } from "./albumentations";
import type { NormalizationStats } from "./normalize";
import { parsePythonJson } from "./python-json";

export const METADATA_FILE = "metadata.json";
/** The name early 0.x releases used. */
export const LEGACY_METADATA_FILE = "meta_data.json";

export interface AnomalibMetadata {
  /** Which export wrote the file: decides how the graph is fed and which statistics apply. */
  format: "v0" | "v1";
  /** Absolute path of the file, for messages. */
  path: string;
  /** "classification" | "segmentation" | "detection" as anomalib wrote it; null when absent. */
  task: string | null;
  /** Normalises the image score. */
  image: NormalizationStats;
  /** Normalises the anomaly map; null when the file has no map statistics (classification exports). */
  pixel: NormalizationStats | null;
  /** Raw-map threshold for the mask; null when absent. */
  pixelThreshold: number | null;
  /** 0.x only: the preprocessing the graph expects to have been done. */
  transform: V0Transform | null;
}

type Fields = Record<string, unknown>;

/**
 * The metadata file of a model: `explicit` when given, else metadata.json (or the legacy
 * meta_data.json) in the model's folder. Throws anomalibMetadataMissing naming the file.
 */
export async function findMetadataFile(modelPath: string, explicit?: string): Promise<string> {
  if (explicit !== undefined) {
    const file = path.resolve(explicit);
    if (await isFile(file)) return file;
    throw missing(file, modelPath, `the metadataPath given does not exist`);
  }
  const folder = path.dirname(path.resolve(modelPath));
  const expected = path.join(folder, METADATA_FILE);
  for (const name of [METADATA_FILE, LEGACY_METADATA_FILE]) {
    const file = path.join(folder, name);
    if (await isFile(file)) return file;
  }
  throw missing(expected, modelPath, `anomalib 0.x/1.x exports write it beside model.onnx; copy it there or pass metadataPath`);
}

export async function readAnomalibMetadata(file: string): Promise<AnomalibMetadata> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new DefectError("fileReadFailed", `cannot read anomalib metadata ${file}: ${describeError(error)}`, { path: file }, { cause: error });
  }
  let value: unknown;
  try {
    value = parsePythonJson(text);
  } catch (error) {
    throw new DefectError("anomalibMetadataInvalid", `anomalib metadata ${file} is not valid JSON: ${describeError(error)}`, { path: file }, { cause: error });
  }
  return parseAnomalibMetadata(value, file);
}

/** Validates parsed metadata.json content; `file` names it in errors. */
export function parseAnomalibMetadata(value: unknown, file: string): AnomalibMetadata {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(file, `the file must hold a JSON object (got ${describeJson(value)})`, "");
  }
  const fields = value as Fields;
  const keys = Object.keys(fields);
  const task = typeof fields["task"] === "string" ? fields["task"] : null;
  if (keys.some((k) => k.startsWith("pred_scores.") || k.startsWith("anomaly_maps."))) return parseV1(fields, file, task);
  if (keys.includes("min") || keys.includes("max") || keys.includes("transform")) return parseV0(fields, file, task);
  if (keys.includes("image_mean") || keys.includes("pixel_mean")) {
    throw invalid(
      file,
      `CDF normalisation statistics (image_mean/pixel_mean) are not supported: re-train or export with normalization_method min_max`,
      "image_mean",
    );
  }
  throw invalid(
    file,
    `no min/max normalisation statistics (expected "pred_scores.min"/"pred_scores.max" from anomalib 1.x or "min"/"max" from 0.x; found keys: ${keys.join(", ") || "none"}); ` +
      `the model was probably trained with normalization "none"`,
    "pred_scores.min",
  );
}

function parseV1(fields: Fields, file: string, task: string | null): AnomalibMetadata {
  const image = readStats(fields, file, "image_threshold", "pred_scores.min", "pred_scores.max");
  const pixelThreshold = readOptional(fields, file, "pixel_threshold");
  const hasMapStats = readOptional(fields, file, "anomaly_maps.min") !== null && readOptional(fields, file, "anomaly_maps.max") !== null;
  const pixel = hasMapStats && pixelThreshold !== null ? readStats(fields, file, "pixel_threshold", "anomaly_maps.min", "anomaly_maps.max") : null;
  return { format: "v1", path: file, task, image, pixel, pixelThreshold, transform: null };
}

function parseV0(fields: Fields, file: string, task: string | null): AnomalibMetadata {
  const image = readStats(fields, file, "image_threshold", "min", "max");
  const pixelThreshold = readOptional(fields, file, "pixel_threshold");
  // 0.x tracked one min/max over scores and maps together, and the inferencer uses it for both.
  const pixel = pixelThreshold === null ? null : { threshold: pixelThreshold, min: image.min, max: image.max };
  const transform = fields["transform"] === undefined || fields["transform"] === null ? null : parseV0Transform(fields["transform"], file);
  return { format: "v0", path: file, task, image, pixel, pixelThreshold, transform };
}

function readStats(fields: Fields, file: string, thresholdKey: string, minKey: string, maxKey: string): NormalizationStats {
  const threshold = readRequired(fields, file, thresholdKey);
  const min = readRequired(fields, file, minKey);
  const max = readRequired(fields, file, maxKey);
  // Equal bounds would divide by zero and turn every score into 0, 1 or NaN.
  if (!(max > min)) throw invalid(file, `"${maxKey}" (${max}) must be greater than "${minKey}" (${min})`, maxKey);
  return { threshold, min, max };
}

function readRequired(fields: Fields, file: string, key: string): number {
  if (!(key in fields)) throw invalid(file, `"${key}" is missing`, key);
  const value = readOptional(fields, file, key);
  if (value === null) throw invalid(file, `"${key}" must be a finite number (got NaN, Infinity or null)`, key);
  return value;
}

/** A finite number, or null when the key is absent or null (Python's NaN/Infinity). */
function readOptional(fields: Fields, file: string, key: string): number | null {
  const raw = fields[key];
  if (raw === undefined || raw === null) return null;
  // torch's tolist() of a one-element tensor gives a one-element list.
  const value = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalid(file, `"${key}" must be a finite number (got ${describeJson(raw)})`, key);
  }
  return value;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

function describeJson(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

function missing(file: string, modelPath: string, hint: string): DefectError {
  return new DefectError(
    "anomalibMetadataMissing",
    `anomalib metadata file not found: ${file} (needed to normalise the scores of ${path.basename(modelPath)}; ${hint})`,
    {
      path: file,
      model: modelPath,
    },
  );
}

function invalid(file: string, problem: string, key: string): DefectError {
  return new DefectError("anomalibMetadataInvalid", `anomalib metadata ${file}: ${problem}`, { path: file, key });
}
