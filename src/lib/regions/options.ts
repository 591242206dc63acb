/**
 * Options of the mask-to-region stage, parsed once from editor values (strings) with every
 * default in one place; an out-of-range value is an invalidOption error naming the option.
 */
import { DefectError } from "../errors";
import type { Connectivity } from "./components";

export const OVERLAY_FORMATS = ["none", "jpeg", "png"] as const;
export type OverlayFormat = (typeof OVERLAY_FORMATS)[number];
const CONNECTIVITIES: readonly Connectivity[] = [4, 8];

/**
 * A few stray pixels above the threshold (sensor noise, JPEG ringing in the map) are not a
 * defect anyone acts on; 10 original pixels is about a 3x3 spot. 0 keeps everything.
 */
export const DEFAULT_MIN_AREA = 10;
export const DEFAULT_MAX_COUNT = 20;
/** Fits the editor's preview and dashboards; the overlay is never larger than the original. */
export const DEFAULT_OVERLAY_WIDTH = 480;
export const DEFAULT_OPACITY = 0.5;
const MAX_COUNT = 10_000;
export const MIN_OVERLAY_WIDTH = 16;
export const MAX_OVERLAY_WIDTH = 4096;

export interface RegionOptions {
  connectivity: Connectivity;
  /** Original image pixels. */
  minArea: number;
  maxCount: number;
  overlay: OverlayFormat;
  /** Pixels; the overlay keeps the original's aspect ratio. */
  overlayWidth: number;
  /** Heat-map opacity, 0 (invisible) to 1 (opaque). */
  opacity: number;
}

export const DEFAULT_REGION_OPTIONS: Readonly<RegionOptions> = {
  connectivity: 8,
  minArea: DEFAULT_MIN_AREA,
  maxCount: DEFAULT_MAX_COUNT,
  overlay: "jpeg",
  overlayWidth: DEFAULT_OVERLAY_WIDTH,
  opacity: DEFAULT_OPACITY,
};

function text(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

function invalid(option: string, expected: string, value: unknown): DefectError {
  const shown = text(value);
  return new DefectError("invalidOption", `Option ${option} must be ${expected}, got "${shown}"`, { option, value: shown });
}

/** A number in [min, max]; empty gives the fallback. */
function numberIn(option: string, value: unknown, min: number, max: number, fallback: number, integer: boolean): number {
  const raw = text(value);
  if (raw === "") return fallback;
  const n = Number(raw);
  const ok = Number.isFinite(n) && n >= min && n <= max && (!integer || Number.isInteger(n));
  if (!ok) throw invalid(option, `${integer ? "an integer" : "a number"} from ${min} to ${max}`, value);
  return n;
}

export function parseRegionOptions(input: Record<string, unknown>): RegionOptions {
  const connectivityText = text(input["connectivity"]);
  const connectivity = connectivityText === "" ? DEFAULT_REGION_OPTIONS.connectivity : CONNECTIVITIES.find((c) => String(c) === connectivityText);
  if (connectivity === undefined) throw invalid("connectivity", "4 or 8", input["connectivity"]);
  const overlayText = text(input["overlay"]);
  const overlay = overlayText === "" ? DEFAULT_REGION_OPTIONS.overlay : OVERLAY_FORMATS.find((f) => f === overlayText);
  if (overlay === undefined) throw invalid("overlay", `one of ${OVERLAY_FORMATS.join(", ")}`, input["overlay"]);
  return {
    connectivity,
    minArea: numberIn("minArea", input["minArea"], 0, Number.MAX_SAFE_INTEGER, DEFAULT_MIN_AREA, false),
    maxCount: numberIn("maxCount", input["maxCount"], 1, MAX_COUNT, DEFAULT_MAX_COUNT, true),
    overlay,
    overlayWidth: numberIn("overlayWidth", input["overlayWidth"], MIN_OVERLAY_WIDTH, MAX_OVERLAY_WIDTH, DEFAULT_OVERLAY_WIDTH, true),
    opacity: numberIn("opacity", input["opacity"], 0, 1, DEFAULT_OPACITY, false),
  };
}
