/**
 * Preprocessing options from any source (Node-RED editor strings, msg properties, CLI flags)
 * turned into one validated PreprocessOptions, so the pipeline itself never sees bad values.
 */
import { DefectError } from "../errors";
import type { ColorMode, PreprocessOptions, Rect, ResizeKernel, ResizeMode, TensorLayout } from "./types";

export const MAX_TENSOR_SIDE = 8192;
/**
 * Tensor pixels a message (msg.preprocess) may ask for when the node's own size is smaller:
 * 2048 x 2048, 50 MB of float RGB. The editor's size is the engineer's choice (up to
 * MAX_TENSOR_SIDE a side); a message from a dashboard or an HTTP request must not make a node
 * allocate 805 MB a tensor.
 */
export const MAX_MESSAGE_TENSOR_PIXELS = 2048 * 2048;
const MAX_PAD_VALUE = 255;
const RGB_CHANNELS = 3;

export const RESIZE_MODES: readonly ResizeMode[] = ["stretch", "letterbox", "center-crop"];
export const RESIZE_KERNELS: readonly ResizeKernel[] = ["nearest", "linear", "cubic", "lanczos3"];
export const COLOR_MODES: readonly ColorMode[] = ["rgb", "bgr", "gray"];
export const TENSOR_LAYOUTS: readonly TensorLayout[] = ["NCHW", "NHWC"];

export const DEFAULT_PREPROCESS_OPTIONS: PreprocessOptions = Object.freeze({
  width: 256,
  height: 256,
  resize: "stretch",
  kernel: "linear",
  padValue: 114,
  roi: null,
  color: "rgb",
  layout: "NCHW",
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
});

export type PresetName = "imagenet" | "yolo" | "none";
export const PRESET_NAMES: readonly PresetName[] = ["imagenet", "yolo", "none"];

/** Normalisations of common model families; explicit options override them. */
export const PRESETS: Record<PresetName, Partial<PreprocessOptions>> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  // Ultralytics YOLO: 640 letterbox padded with gray 114, inputs 0..1.
  yolo: { width: 640, height: 640, resize: "letterbox", padValue: 114, mean: [0, 0, 0], std: [1, 1, 1] },
  none: {},
};

function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}

function invalid(option: string, expected: string, value: unknown): DefectError {
  return new DefectError("invalidOption", `Option "${option}" must be ${expected}, got ${shown(value)}.`, {
    option,
    value: shown(value),
  });
}

/** undefined, null and "" (an empty editor field) all mean "keep the current value". */
function isUnset(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

function toNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "") return Number(value.trim());
  return Number.NaN;
}

function parseInteger(option: string, value: unknown, min: number, max: number): number {
  const n = toNumber(value);
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(option, `an integer from ${min} to ${max}`, value);
  return n;
}

function parseEnum<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  const text = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  const match = allowed.find((a) => a.toLowerCase() === text);
  if (match === undefined) throw invalid(option, `one of ${allowed.join(", ")}`, value);
  return match;
}

function parseList(option: string, value: unknown, positive: boolean): number[] {
  const parts: unknown[] = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[\s,;]+/).filter((p) => p !== "") : [value];
  const numbers = parts.map(toNumber);
  const ok = numbers.length > 0 && numbers.every((n) => Number.isFinite(n) && (!positive || n > 0));
  if (!ok) throw invalid(option, positive ? "a list of numbers above 0" : "a list of numbers", value);
  return numbers;
}

/** Fits mean/std to the channel count: one value broadcasts to three; three equal values fold to one. */
function fitChannels(option: string, values: number[], color: ColorMode): number[] {
  const channels = color === "gray" ? 1 : RGB_CHANNELS;
  if (values.length === channels) return [...values];
  if (values.length === 1) return new Array<number>(channels).fill(values[0]!);
  if (channels === 1 && values.every((v) => v === values[0])) return [values[0]!];
  throw invalid(option, `${channels === 1 ? "1 value" : "1 or 3 values"} for color "${color}"`, values.join(","));
}

function roiFields(value: unknown): unknown[] {
  if (typeof value === "string") return value.split(/[\s,;]+/).filter((p) => p !== "");
  if (Array.isArray(value)) return value;
  if (typeof value === "object" && value !== null) {
    const r = value as Record<string, unknown>;
    return [r["x"], r["y"], r["width"], r["height"]];
  }
  return [];
}

/** An {x, y, width, height} object, an [x, y, width, height] array or "x,y,width,height"; "" for none. */
function parseRoi(value: unknown): Rect | null {
  if (typeof value === "string" && value.trim() === "") return null;
  const numbers = roiFields(value).map(toNumber);
  const [x = Number.NaN, y = Number.NaN, width = Number.NaN, height = Number.NaN] = numbers;
  const valid = numbers.length === 4 && numbers.every((n) => Number.isInteger(n) && n >= 0) && width >= 1 && height >= 1;
  if (!valid) throw invalid("roi", "x,y,width,height in whole pixels (width and height at least 1) or empty", value);
  return { x, y, width, height };
}

function applyPreset(base: PreprocessOptions, value: unknown): PreprocessOptions {
  if (isUnset(value)) return base;
  const preset = PRESETS[parseEnum("preset", value, PRESET_NAMES)];
  return { ...base, ...preset };
}

/**
 * Merges `input` over `base` (after applying `input.preset`, if any) and validates the result.
 * Values may be numbers or the strings an editor field holds; unknown keys are ignored.
 */
export function parsePreprocessOptions(input: Record<string, unknown>, base: PreprocessOptions = DEFAULT_PREPROCESS_OPTIONS): PreprocessOptions {
  const o: PreprocessOptions = { ...applyPreset(base, input["preset"]) };
  const given = (key: keyof PreprocessOptions): unknown => (isUnset(input[key]) ? undefined : input[key]);

  const width = given("width");
  if (width !== undefined) o.width = parseInteger("width", width, 1, MAX_TENSOR_SIDE);
  const height = given("height");
  if (height !== undefined) o.height = parseInteger("height", height, 1, MAX_TENSOR_SIDE);
  const resize = given("resize");
  if (resize !== undefined) o.resize = parseEnum("resize", resize, RESIZE_MODES);
  const kernel = given("kernel");
  if (kernel !== undefined) o.kernel = parseEnum("kernel", kernel, RESIZE_KERNELS);
  const color = given("color");
  if (color !== undefined) o.color = parseEnum("color", color, COLOR_MODES);
  const layout = given("layout");
  if (layout !== undefined) o.layout = parseEnum("layout", layout, TENSOR_LAYOUTS);
  const padValue = given("padValue");
  if (padValue !== undefined) {
    const n = toNumber(padValue);
    if (!(n >= 0 && n <= MAX_PAD_VALUE)) throw invalid("padValue", `a number from 0 to ${MAX_PAD_VALUE}`, padValue);
    o.padValue = n;
  }
  const scale = given("scale");
  if (scale !== undefined) {
    const n = toNumber(scale);
    if (!(Number.isFinite(n) && n > 0)) throw invalid("scale", "a number above 0", scale);
    o.scale = n;
  }
  const mean = given("mean");
  if (mean !== undefined) o.mean = parseList("mean", mean, false);
  const std = given("std");
  if (std !== undefined) o.std = parseList("std", std, true);
  // An empty roi field clears the region, unlike the other fields where empty keeps the base.
  if (input["roi"] !== undefined) o.roi = input["roi"] === null ? null : parseRoi(input["roi"]);

  // Fresh arrays and roi, so callers never share (and mutate) the defaults' or presets' objects.
  o.mean = fitChannels("mean", o.mean, o.color);
  o.std = fitChannels("std", o.std, o.color);
  o.roi = o.roi === null ? null : { ...o.roi };
  return o;
}
