/**
 * Options of the mask-to-region stage, parsed once from editor values (strings) with every
 * default in one place; an out-of-range value is an invalidOption error naming the option.
 */
import { invalidOption, oneOf, optionText, rangeOption } from "../config/option-values";
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

export function parseRegionOptions(input: Record<string, unknown>): RegionOptions {
  const connectivityText = optionText(input["connectivity"]);
  const connectivity = connectivityText === "" ? DEFAULT_REGION_OPTIONS.connectivity : CONNECTIVITIES.find((c) => String(c) === connectivityText);
  if (connectivity === undefined) throw invalidOption("connectivity", "4 or 8", input["connectivity"]);
  const overlay = oneOf("overlay", input["overlay"], OVERLAY_FORMATS, DEFAULT_REGION_OPTIONS.overlay);
  return {
    connectivity,
    minArea: rangeOption("minArea", input["minArea"], 0, Number.MAX_SAFE_INTEGER, DEFAULT_MIN_AREA, false),
    maxCount: rangeOption("maxCount", input["maxCount"], 1, MAX_COUNT, DEFAULT_MAX_COUNT, true),
    overlay,
    overlayWidth: rangeOption("overlayWidth", input["overlayWidth"], MIN_OVERLAY_WIDTH, MAX_OVERLAY_WIDTH, DEFAULT_OVERLAY_WIDTH, true),
    opacity: rangeOption("opacity", input["opacity"], 0, 1, DEFAULT_OPACITY, false),
  };
}
