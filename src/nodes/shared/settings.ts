/** Values taken from the Node-RED runtime settings and the editor's unit conventions. */
import type { NodeAPI } from "node-red";
import type { DecodeLimits } from "../../lib/image";
import { DEFAULT_MAX_PIXELS } from "../../lib/image";
import { parsePositiveNumber } from "../../lib/source/source-options";

const PIXELS_PER_MEGAPIXEL = 1_000_000;
export const DEFAULT_MAX_MEGAPIXELS = DEFAULT_MAX_PIXELS / PIXELS_PER_MEGAPIXEL;

/**
 * Relative paths resolve against the user directory (where flows.json lives), which is stable
 * across restarts, unlike the working directory Node-RED was started from.
 */
export function baseDirectory(RED: NodeAPI): string {
  const userDir = RED.settings.userDir;
  return typeof userDir === "string" && userDir !== "" ? userDir : process.cwd();
}

/** `defectDetection: { allowSvg: true }` in Node-RED's settings lets the nodes decode SVG. */
export function svgAllowed(RED: NodeAPI): boolean {
  const section = (RED.settings as unknown as Record<string, unknown>)["defectDetection"];
  return typeof section === "object" && section !== null && (section as Record<string, unknown>)["allowSvg"] === true;
}

/** The editor shows the pixel limit in megapixels; the core counts pixels. */
export function parseDecodeLimits(maxMegapixels: unknown, allowSvg = false): DecodeLimits {
  const megapixels = parsePositiveNumber(maxMegapixels, "maxPixels", DEFAULT_MAX_MEGAPIXELS);
  return { maxPixels: Math.round(megapixels * PIXELS_PER_MEGAPIXEL), allowSvg };
}
