/**
 * From `line`'s options to what the line runs: the detector and preprocess nodes' fields, the
 * images learned and the training images the threshold is calibrated on. Options mean what they
 * mean for `eval`; an option left out is left out of the node too, so it takes the node's default.
 */
import { isAbsolute, resolve } from "node:path";
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { MAX_FEW_SHOTS, MAX_TRAIN_COUNT } from "../lib/detector/options";
import { openAnomalibEvalModel } from "../offline/eval/anomalib-eval-model";
import { listLabelledDefects } from "../offline/eval/defect-aware-data";
import { readMvtecDataset } from "../offline/eval/mvtec-dataset";
import { EMBEDDED_BACKBONE } from "../lib/features/embedded";
import { DEFAULT_MAX_PIXELS, parsePreprocessOptions, type PreprocessOptions } from "../lib/image";
import { templateLineSetup } from "../offline/line/template-hook";
import type { LinePlan } from "../offline/line/types";
import { DEFAULT_CALIBRATION_COUNT, MAX_CALIBRATION_COUNT } from "../lib/threshold/options";
import { UsageError, parseIntegerOption } from "./args";
import { detectorFields, parseEvalDetector } from "./eval-options";

export const LINE_METHODS = ["patchcore", "padim", "template", "anomalib"] as const;
type LineMethod = (typeof LINE_METHODS)[number];

/** Fewer good scores give mean + k sigma no spread to speak of. */
const MIN_CALIBRATION = 2;

/** The option values `line` reads (strings as typed, flags as booleans). */
export interface LineValues {
  data?: string;
  method?: string;
  backbone?: string;
  model?: string;
  layers?: string;
  size?: string;
  coreset?: string;
  "max-bank"?: string;
  "train-limit"?: string;
  "scoring-dim"?: string;
  "image-score"?: string;
  "appearance-weight"?: string;
  lookalikes?: string;
  exposure?: string;
  neighbourhood?: string;
  "place-weights"?: string;
  "reference-dir"?: string;
  threads?: string;
  calibrate?: string;
  frr?: string;
  shots?: string;
  augment?: string;
  rotations?: string;
  standardize?: boolean;
  "no-standardize"?: boolean;
  "defect-shots"?: string;
}

type Hooks = Pick<LinePlan, "progress" | "log">;

function absolute(path: string): string {
  // The nodes resolve relative paths against Node-RED's user directory, a temporary folder here.
  return isAbsolute(path) ? path : resolve(path);
}

function oneOf(value: string, option: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw new UsageError(`${option} must be one of ${allowed.join(", ")}, got "${value}"`);
  return value;
}

/**
 * The PatchCore and PaDiM fields, mapped and checked as `eval` does (by the node's own parser,
 * so ranges and defaults are the node's); the backbone path made absolute for the node.
 */
function learningDetector(values: LineValues, method: "patchcore" | "padim", shots: number | undefined): Record<string, string> {
  if (values.backbone === undefined) throw new UsageError(`--backbone FILE is required for ${method}`);
  const flags = { ...values, backbone: values.backbone === EMBEDDED_BACKBONE ? EMBEDDED_BACKBONE : absolute(values.backbone) };
  const parsed = parseEvalDetector(flags, method, shots);
  return { ...detectorFields(flags, method, shots), layers: parsed.layers.join(",") };
}

function imagenet(width: number, height = width): { fields: Record<string, string>; options: PreprocessOptions } {
  return {
    fields: { preset: "imagenet", width: String(width), height: String(height), resizeMode: "stretch" },
    options: parsePreprocessOptions({ preset: "imagenet", width, height, resize: "stretch" }),
  };
}

/**
 * Template comparison looks for defects a few pixels wide on aligned parts: unless --size says
 * otherwise it compares at the parts' own size (the first training image's), not a shrunk copy
 * (deeppcb at 256 px: defect recall 0.86; at its 640 px: 0.999).
 */
async function nativeSize(file: string | undefined, fallback: number): Promise<{ width: number; height: number }> {
  if (file === undefined) return { width: fallback, height: fallback };
  const { width, height } = await sharp(file).metadata();
  return width !== undefined && height !== undefined ? { width, height } : { width: fallback, height: fallback };
}

/** The preprocess node set as the export was trained, and a per-image ROI where 0.x centre-crops. */
async function anomalibPlan(
  values: LineValues,
  size: number,
  threads: number | undefined,
): Promise<Pick<LinePlan, "detector" | "preprocess" | "preprocessFor">> {
  if (values.model === undefined) throw new UsageError("--model FILE is required for anomalib");
  const file = absolute(values.model);
  const exported = await openAnomalibEvalModel(file, size, threads === undefined ? {} : { intraOpThreads: threads });
  await exported.model.release();
  const p = exported.preprocess;
  const preprocess = {
    preset: "none",
    width: String(p.width),
    height: String(p.height),
    resizeMode: p.resize,
    kernel: p.kernel,
    color: p.color,
    layout: p.layout,
    scale: String(p.scale),
    mean: p.mean.join(","),
    std: p.std.join(","),
  };
  const detector: Record<string, string> = { setting: "unsupervised", method: "anomalib", modelFile: file };
  if (threads !== undefined) detector["threads"] = String(threads);
  return {
    detector,
    preprocess,
    async preprocessFor(path) {
      const options = await exported.preprocessFor(await readFile(path), { maxPixels: DEFAULT_MAX_PIXELS });
      return options.roi === null ? undefined : { roi: { ...options.roi } };
    },
  };
}

/** Calibration images: training images held back from learning where at least two are, else learned ones. */
function calibrationSplit(
  train: readonly string[],
  learn: readonly string[],
  calibrate: number,
): Pick<LinePlan, "learn" | "calibration" | "calibrationHeldOut"> {
  const learned = new Set(learn);
  const rest = train.filter((file) => !learned.has(file));
  const heldOut = rest.length >= MIN_CALIBRATION;
  const calibration = (heldOut ? rest : train).slice(0, calibrate);
  if (calibration.length < MIN_CALIBRATION)
    throw new UsageError(`the threshold needs at least ${MIN_CALIBRATION} training images to calibrate on, got ${calibration.length}`);
  return { learn, calibration, calibrationHeldOut: heldOut };
}

/** --frr: the threshold node's false-reject rate, percent (its own range). */
export function parseFrr(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || n >= 100)
    throw new UsageError(`--frr must be a percentage above 0 and below 100, got "${value}"`);
  return n;
}

export async function buildLinePlan(values: LineValues & { data: string }, hooks: Hooks): Promise<LinePlan> {
  const method = oneOf(values.method ?? "patchcore", "--method", LINE_METHODS) as LineMethod;
  if (values["reference-dir"] !== undefined && method !== "template") throw new UsageError("--reference-dir DIR is for --method template");
  const explicitSize = parseIntegerOption(values.size, "--size", 32, 2048);
  const size = explicitSize ?? 256;
  const threads = parseIntegerOption(values.threads, "--threads", 1, 64);
  const trainLimit = parseIntegerOption(values["train-limit"], "--train-limit", 1, 1_000_000);
  const shots = parseIntegerOption(values.shots, "--shots", 1, MAX_FEW_SHOTS);
  const calibrate = parseIntegerOption(values.calibrate, "--calibrate", MIN_CALIBRATION, MAX_CALIBRATION_COUNT) ?? DEFAULT_CALIBRATION_COUNT;
  const defectShots = parseIntegerOption(values["defect-shots"], "--defect-shots", 1, 1_000_000);
  if (defectShots !== undefined && method !== "patchcore") {
    throw new UsageError(`--defect-shots works with --method patchcore (the detector learns confirmed defects with PatchCore), got "${method}"`);
  }
  const frr = parseFrr(values.frr);
  const hooksAndRate = { ...hooks, ...(frr === undefined ? {} : { frr }) };
  const data = absolute(values.data);
  const dataset = readMvtecDataset(data);
  // The first N sorted, as an operator would confirm them; none is left out for its board being learned (test boards are new ones).
  const defects = defectShots === undefined ? [] : listLabelledDefects(data, defectShots);
  const pre = imagenet(size);
  if (method === "template") {
    // The hook decides the detector and what it learns (the references); the rest is the line's.
    const referenceDir = values["reference-dir"] === undefined ? undefined : absolute(values["reference-dir"]);
    const setup = templateLineSetup({ data, referenceDir });
    const native = explicitSize === undefined ? await nativeSize(dataset.train[0], size) : { width: size, height: size };
    const templatePre = imagenet(native.width, native.height);
    return {
      dataset,
      size: Math.max(native.width, native.height),
      preprocess: templatePre.fields,
      detector: setup.detector,
      defects,
      ...calibrationSplit(dataset.train, setup.learn, calibrate),
      ...hooksAndRate,
    };
  }
  if (method === "anomalib") {
    // Trained elsewhere: nothing is learned, every training image may calibrate.
    const anomalib = await anomalibPlan(values, size, threads);
    return { dataset, size, ...anomalib, defects, ...calibrationSplit(dataset.train, [], calibrate), ...hooksAndRate };
  }
  const learnCount = Math.min(dataset.train.length, shots ?? trainLimit ?? dataset.train.length);
  if (learnCount > MAX_TRAIN_COUNT)
    throw new UsageError(`the detector learns at most ${MAX_TRAIN_COUNT} images in a round, ${values.data} has ${learnCount}: use --train-limit`);
  const detector: Record<string, string> = { ...learningDetector(values, method, shots), trainCount: String(learnCount) };
  const backbone = detector["backbone"] as string;
  const layers = (detector["layers"] as string).split(",").map((l) => l.trim());
  const rawBackbone = backbone === EMBEDDED_BACKBONE ? undefined : { file: backbone, layers, threads, preprocess: pre.options };
  const learn = dataset.train.slice(0, learnCount);
  // Unsupervised PatchCore hands over its learned images' leave-one-out scores with the fit: the
  // threshold calibrates from them, and no training image is held back or read again for it.
  const handsOver = method === "patchcore" && shots === undefined;
  if (handsOver && values.calibrate !== undefined) {
    throw new UsageError("--calibrate is not used with unsupervised PatchCore: the threshold calibrates from the scores the detector hands over with its fit");
  }
  const split = handsOver ? { learn, calibration: [], calibrationHeldOut: false } : calibrationSplit(dataset.train, learn, calibrate);
  return { dataset, size, preprocess: pre.fields, detector, rawBackbone, defects, ...split, ...hooksAndRate };
}
