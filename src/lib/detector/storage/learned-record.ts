/**
 * What a saved model records about how it was learned, and the check that refuses to use it
 * with anything else: a bank of one backbone's features compared with another backbone's
 * features gives scores that look plausible and mean nothing.
 */
import { DefectError } from "../../errors";
import { parsePreprocessOptions } from "../../image";
import type { PreprocessOptions, TensorLayout } from "../../image/types";
import { AUGMENT_MODES, type AugmentMode } from "../../anomaly/patchcore/augment";
import type { FileIdentity } from "../../persist";
import type { SampleShape } from "../sample";
import type { DetectorMethod, DetectorSetting } from "../types";
import { isRecord } from "../../message";
import { isPatchWindow, PATCH_WINDOWS, recordedBefore, type Neighbourhood } from "../../features/neighbourhood";

export interface BackboneRecord extends FileIdentity {
  /** Graph input name. */
  input: string;
}

/** What must be the same for a saved model to be used. */
export interface LearnedWith {
  setting: DetectorSetting;
  method: DetectorMethod;
  backbone: BackboneRecord;
  layers: string[];
  /**
   * PatchCore: whether every image's patch features were standardised (instance-norm.ts). The
   * bank's rows mean something else either way. Files saved before it was recorded: false.
   */
  standardize: boolean;
  /**
   * Whether each image's exposure was evened out before the backbone (even-exposure.ts). Not
   * compared at load: a saved model runs as it was learned, whatever the option says now (it
   * applies to the next learning round). Files saved before it was recorded: false.
   */
  evenExposure: boolean;
  /**
   * PatchCore: the p x p window each layer's features were averaged over, one a layer
   * (neighbourhood.ts). Not compared at load, like `evenExposure`. Files saved before it was
   * recorded: 3 x 3 on every layer.
   */
  neighbourhood: Neighbourhood;
}

export interface LearnedRecord extends LearnedWith {
  /** ISO time of the fit. */
  created: string;
  /** Good images the model was fitted on. */
  trainedOn: number;
  input: { dims: number[]; layout: TensorLayout };
  preprocessing: PreprocessOptions | null;
  /** The method's options at the fit (plain numbers), for the record. */
  options: Record<string, number>;
  /**
   * PatchCore: how the fit used support-set augmentation. Informational only: never compared
   * when a model is loaded, and absent from files saved before it was recorded.
   */
  augmentation?: AugmentationRecord;
  /**
   * PatchCore fits: each learned image's score against the bank without its own rows
   * (leave-one-out.ts, leave-one-image-out.ts), the good scores handed over for a threshold's
   * calibration. Informational, like `augmentation`.
   */
  leaveOneOut?: number[];
}

/** How a PatchCore fit was augmented (support-set.ts). */
export interface AugmentationRecord {
  /** As configured: "auto", "on" or "off". */
  mode: AugmentMode;
  /** Shots learned with their variants (0: none, the bank holds the learned images only). */
  shots: number;
  /** Variant images learned in all. */
  variants: number;
  /** Extra exact turns configured, in degrees. */
  rotations: number[];
}

function bad(path: string, what: string): DefectError {
  return new DefectError("modelFileInvalid", `${path} is not a usable model file: ${what}`, { path, reason: what });
}

function readBackbone(path: string, value: unknown): BackboneRecord {
  const ok =
    isRecord(value) &&
    typeof value["name"] === "string" &&
    typeof value["sha256"] === "string" &&
    typeof value["input"] === "string" &&
    Number.isSafeInteger(value["size"]);
  if (!ok) throw bad(path, "the backbone record is missing or malformed");
  return { name: value["name"] as string, size: value["size"] as number, sha256: value["sha256"] as string, input: value["input"] as string };
}

function readInput(path: string, value: unknown): LearnedRecord["input"] {
  const dims = isRecord(value) ? value["dims"] : undefined;
  const layout = isRecord(value) ? value["layout"] : undefined;
  const ok = Array.isArray(dims) && dims.every((d) => Number.isInteger(d) && (d as number) > 0) && (layout === "NCHW" || layout === "NHWC");
  if (!ok) throw bad(path, "the input tensor record is missing or malformed");
  return { dims: dims as number[], layout };
}

function readPreprocessing(path: string, value: unknown): PreprocessOptions | null {
  if (value === null) return null;
  if (!isRecord(value)) throw bad(path, "the preprocessing record is malformed");
  try {
    return parsePreprocessOptions(value);
  } catch (error) {
    throw bad(path, `the preprocessing record is invalid (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** A blur wider than any map a detector makes (tensor pixels) is not one a fit wrote. */
const MAX_RECORDED_BLUR_SIGMA = 64;
/** The sigma every PatchCore and PaDiM model was learned with before it was chosen per setting (anomalib's). */
const BLUR_SIGMA_BEFORE = 4;

function readOptions(path: string, value: unknown): Record<string, number> {
  if (!isRecord(value)) return {};
  const options = Object.fromEntries(Object.entries(value).filter((entry): entry is [string, number] => typeof entry[1] === "number"));
  const sigma = options["blurSigma"];
  if (sigma !== undefined && !(Number.isFinite(sigma) && sigma >= 0 && sigma <= MAX_RECORDED_BLUR_SIGMA)) {
    throw bad(path, `the recorded map blur (blurSigma ${sigma}) is not from 0 to ${MAX_RECORDED_BLUR_SIGMA}`);
  }
  return options;
}

/**
 * The anomaly map's blur a model was learned with: recorded with its options by every fit, so a
 * saved model keeps scoring as when its threshold was calibrated after the default changes.
 */
export function recordedBlurSigma(record: Pick<LearnedRecord, "options">): number {
  return record.options["blurSigma"] ?? BLUR_SIGMA_BEFORE;
}

/** The augmentation record when it is there and well formed; anything else is left out (it only informs). */
function readAugmentation(value: unknown): AugmentationRecord | undefined {
  if (!isRecord(value)) return undefined;
  const { mode, shots, variants, rotations } = value;
  const ok =
    AUGMENT_MODES.some((m) => m === mode) &&
    Number.isSafeInteger(shots) &&
    Number.isSafeInteger(variants) &&
    Array.isArray(rotations) &&
    rotations.every((r) => typeof r === "number" && Number.isFinite(r));
  return ok ? { mode: mode as AugmentMode, shots: shots as number, variants: variants as number, rotations: [...(rotations as number[])] } : undefined;
}

/** The leave-one-out scores when there and well formed; anything else is left out (they only inform). */
function readLeaveOneOut(value: unknown): number[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "number" && Number.isFinite(v)) ? [...(value as number[])] : undefined;
}

/** Absent (files saved before it was recorded) means off: they were learned without it. */
function readSwitch(path: string, name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw bad(path, `the ${name} record is not true or false`);
  return value;
}

/** Absent (files saved before it was recorded): PatchCore's 3 x 3 on every layer, what they were learned with. */
function readNeighbourhood(path: string, value: unknown, layers: number): Neighbourhood {
  if (value === undefined) return recordedBefore(layers);
  if (!Array.isArray(value) || value.length !== layers || !value.every(isPatchWindow)) {
    throw bad(path, `the neighbourhood record is not one window (${PATCH_WINDOWS.join(" or ")}) for each of the ${layers} layers`);
  }
  return [...value];
}

/**
 * Each layer's window as a header records it, for tools that show or compare headers (bank info,
 * merge) without refusing them: files saved before the record, or with one unreadable, count as
 * learned with 3 x 3 on every layer.
 */
export function recordedNeighbourhood(metadata: Record<string, unknown>): Neighbourhood {
  const { neighbourhood, layers } = metadata;
  if (Array.isArray(neighbourhood) && neighbourhood.every(isPatchWindow)) return neighbourhood;
  return recordedBefore(Array.isArray(layers) ? layers.length : 0);
}

/** The record from a model file's metadata; modelFileInvalid when a part is missing. */
export function readLearnedRecord(metadata: Record<string, unknown>, path: string): LearnedRecord {
  const { setting, method, layers, created, trainedOn } = metadata;
  if (typeof setting !== "string" || typeof method !== "string") throw bad(path, "setting or method missing");
  if (!Array.isArray(layers) || !layers.every((l) => typeof l === "string")) throw bad(path, "the layer list is missing");
  if (!Number.isSafeInteger(trainedOn) || typeof created !== "string") throw bad(path, "trainedOn or created missing");
  const augmentation = readAugmentation(metadata["augmentation"]);
  const leaveOneOut = readLeaveOneOut(metadata["leaveOneOut"]);
  return {
    setting: setting as DetectorSetting,
    method: method as DetectorMethod,
    backbone: readBackbone(path, metadata["backbone"]),
    layers: layers as string[],
    standardize: readSwitch(path, "standardize", metadata["standardize"]),
    evenExposure: readSwitch(path, "evenExposure", metadata["evenExposure"]),
    neighbourhood: readNeighbourhood(path, metadata["neighbourhood"], layers.length),
    created,
    trainedOn: trainedOn as number,
    input: readInput(path, metadata["input"]),
    preprocessing: readPreprocessing(path, metadata["preprocessing"]),
    options: readOptions(path, metadata["options"]),
    ...(augmentation === undefined ? {} : { augmentation }),
    ...(leaveOneOut === undefined ? {} : { leaveOneOut }),
  };
}

export function learnedRecordMetadata(record: LearnedRecord): Record<string, unknown> {
  return { ...record };
}

export function shapeOfRecord(record: LearnedRecord): SampleShape {
  return { dims: record.input.dims, layout: record.input.layout, preprocessing: record.preprocessing };
}

const SHORT_HASH = 12;

function describeBackbone(b: BackboneRecord): string {
  return `${b.name} (${b.size} bytes, sha256 ${b.sha256.slice(0, SHORT_HASH)})`;
}

/**
 * modelMismatch naming every difference. The backbone is compared by content (size and hash),
 * so a moved or renamed copy of the same file still matches.
 */
export function checkLearnedWith(record: LearnedRecord, current: LearnedWith, path: string): void {
  const differences: string[] = [];
  const fields: string[] = [];
  const differ = (field: string, saved: string, now: string): void => {
    fields.push(field);
    differences.push(`${field}: saved ${saved}, now ${now}`);
  };
  if (record.setting !== current.setting) differ("setting", record.setting, current.setting);
  if (record.method !== current.method) differ("method", record.method, current.method);
  if (record.backbone.sha256 !== current.backbone.sha256 || record.backbone.size !== current.backbone.size) {
    differ("backbone", describeBackbone(record.backbone), describeBackbone(current.backbone));
  }
  if (record.layers.join(",") !== current.layers.join(",")) differ("layers", record.layers.join(","), current.layers.join(","));
  if (record.standardize !== current.standardize) {
    const onOff = (on: boolean): string => (on ? "on" : "off");
    differ("standardize", onOff(record.standardize), onOff(current.standardize));
  }
  if (differences.length === 0) return;
  throw new DefectError(
    "modelMismatch",
    `The saved model ${path} does not match the node's configuration (${differences.join("; ")}). ` +
      `The file is kept: restore the configuration, or send msg.command "reset" to discard it.`,
    { path, fields: fields.join(", "), differences: differences.join("; ") },
  );
}
