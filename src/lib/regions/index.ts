export * from "./types";
export { labelComponents, labelMask, type ComponentLabels, type Connectivity } from "./components";
export { regionStatistics, type RegionStatistics } from "./statistics";
export { compareSeverity, selectRegions, type RegionFilter } from "./filters";
export { contentArea, identityTransform, regionToSource, scaleTransform, type ContentArea } from "./mapping";
export { readRegionInput, type RegionMessage } from "./inputs";
export { extractRegions, regionSource, type ExtractOptions, type RegionResult } from "./extract";
export {
  DEFAULT_REGION_OPTIONS,
  MAX_OVERLAY_WIDTH,
  MIN_OVERLAY_WIDTH,
  OVERLAY_FORMATS,
  parseRegionOptions,
  type OverlayFormat,
  type RegionOptions,
} from "./options";
export { BOX_COLOUR, HEAT_HIGH_COLOUR, HEAT_LOW_COLOUR, blendHeat, drawBox, heatColour, type Rgb } from "./draw";
export { OVERLAY_JPEG_QUALITY, overlaySize, renderOverlay, startOverlay, type OverlayOptions, type OverlayScene, type PendingOverlay } from "./overlay";
export { PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE, renderPreview } from "./preview";
