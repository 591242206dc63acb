/**
 * The albumentations pipeline that anomalib 0.x stores under metadata.json "transform"
 * (`A.Compose(...).to_dict()`). 0.x graphs hold the bare network, so the caller has to
 * reproduce this resize, crop and normalisation before feeding the model.
 */
import { DefectError } from "../../errors";

export interface Size {
  width: number;
  height: number;
}

export interface V0Transform {
  /** Size the whole image is stretched to (albumentations Resize); null when absent. */
  resize: Size | null;
  /** Centre crop taken after the resize; null when absent. */
  centerCrop: Size | null;
  /** Per-channel (RGB) normalisation on the [0,1] scale: (pixel / maxPixelValue - mean) / std. */
  mean: number[];
  std: number[];
  maxPixelValue: number;
  /** Steps that were present but are not reproduced (augmentations, ToTensorV2 needs nothing). */
  ignored: string[];
}

/** albumentations' defaults when a Compose has no Normalize: the identity. */
const NO_MEAN = [0, 0, 0];
const NO_STD = [1, 1, 1];
/** albumentations Normalize's default max_pixel_value. */
const DEFAULT_MAX_PIXEL_VALUE = 255;
const RGB_CHANNELS = 3;
/** Steps with no effect on pixel values that are expected in every exported pipeline. */
const NEUTRAL_STEPS = new Set(["ToTensorV2", "ToTensor", "Compose"]);

type Fields = Record<string, unknown>;

/** Reads the "transform" value of a 0.x metadata.json; `file` names the file in errors. */
export function parseV0Transform(value: unknown, file: string): V0Transform {
  const root = asFields(value);
  // to_dict() wraps the Compose as {"__version__", "transform": {...}}; accept the bare Compose too.
  const compose = root !== null && asFields(root["transform"]) !== null ? asFields(root["transform"]) : root;
  const steps = compose === null ? null : compose["transforms"];
  if (!Array.isArray(steps)) {
    throw invalid(file, `"transform" is not an albumentations Compose with a "transforms" list`, "transform");
  }
  const result: V0Transform = {
    resize: null,
    centerCrop: null,
    mean: [...NO_MEAN],
    std: [...NO_STD],
    maxPixelValue: DEFAULT_MAX_PIXEL_VALUE,
    ignored: [],
  };
  steps.forEach((step, index) => applyStep(result, asFields(step), `transform step ${index}`, file));
  return result;
}

function applyStep(result: V0Transform, step: Fields | null, where: string, file: string): void {
  const fullName = step?.["__class_fullname__"];
  if (step === null || typeof fullName !== "string") throw invalid(file, `${where} has no "__class_fullname__"`, "transform");
  // Older albumentations store the full module path, newer ones the bare class name.
  const name = fullName.slice(fullName.lastIndexOf(".") + 1);
  switch (name) {
    case "Resize":
      result.resize = readSize(step, `${where} (Resize)`, file);
      return;
    case "CenterCrop":
      result.centerCrop = readSize(step, `${where} (CenterCrop)`, file);
      return;
    case "Normalize":
      result.mean = readChannels(step["mean"], `${where} (Normalize) mean`, file, false);
      result.std = readChannels(step["std"], `${where} (Normalize) std`, file, true);
      result.maxPixelValue =
        step["max_pixel_value"] === undefined ? DEFAULT_MAX_PIXEL_VALUE : readPositive(step["max_pixel_value"], `${where} (Normalize) max_pixel_value`, file);
      return;
    default:
      if (!NEUTRAL_STEPS.has(name)) result.ignored.push(name);
  }
}

function readSize(step: Fields, where: string, file: string): Size {
  const width = step["width"];
  const height = step["height"];
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw invalid(file, `${where} needs positive integer "width" and "height" (got ${JSON.stringify(width)} x ${JSON.stringify(height)})`, "transform");
  }
  return { width, height };
}

function readChannels(value: unknown, where: string, file: string, positive: boolean): number[] {
  const values = typeof value === "number" ? Array.from({ length: RGB_CHANNELS }, () => value) : value;
  const ok =
    Array.isArray(values) && values.length === RGB_CHANNELS && values.every((v) => typeof v === "number" && Number.isFinite(v) && (!positive || v > 0));
  if (!ok) {
    const expected = positive ? "3 positive numbers" : "3 numbers";
    throw invalid(file, `${where} must be a number or ${expected} (got ${JSON.stringify(value)})`, "transform");
  }
  return values as number[];
}

function readPositive(value: unknown, where: string, file: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalid(file, `${where} must be a positive number (got ${JSON.stringify(value)})`, "transform");
  }
  return value;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

function asFields(value: unknown): Fields | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Fields) : null;
}

function invalid(file: string, problem: string, key: string): DefectError {
  return new DefectError("anomalibMetadataInvalid", `anomalib metadata ${file}: ${problem}`, { path: file, key });
}
