/**
 * The overlay image: the original, down-scaled to a preview size, with the anomaly map's heat
 * colouring blended on and the region boxes drawn, encoded as JPEG or PNG. Small on purpose:
 * it travels on every message and is shown in the editor and on dashboards.
 */
import sharp from "sharp";
import { DefectError } from "../errors";
import { readHeaderAndRaw, type DecodeLimits } from "../image/decode";
import { DEFAULT_MAX_PIXELS, mapToSource } from "../image";
import type { ScoreMap, Transform } from "../image/types";
import { blendHeat, BOX_COLOUR, drawBox } from "./draw";
import type { RegionResult } from "./extract";
import { scaleTransform } from "./mapping";
import type { Size } from "./types";

const RGB = 3;
/** Overlays are previews: 8 bits a channel whatever the original had. */
const OVERLAY_BIT_DEPTH = 8;
/** Good enough for a preview at a fraction of the original's bytes. */
export const OVERLAY_JPEG_QUALITY = 80;
/** Boxes are 2 px wide from this overlay width, 1 px below it (thin previews). */
const THICK_LINE_FROM_WIDTH = 240;
const THICK_LINE = 2;
const THIN_LINE = 1;

export interface OverlayOptions {
  format: "jpeg" | "png";
  /** Largest width; the overlay keeps the original's aspect ratio and is never upscaled. */
  width: number;
  opacity: number;
}

export type OverlayScene = Pick<RegionResult, "regions" | "source" | "placement" | "map" | "heatStart">;

/** Width at most `maxWidth` and at most the original's, height by the original's aspect ratio. */
export function overlaySize(source: Size, maxWidth: number): Size {
  const width = Math.max(1, Math.min(maxWidth, source.width));
  const height = Math.max(1, Math.round((source.height * width) / source.width));
  return { width, height };
}

function encode(pixels: Uint8Array, size: Size, format: OverlayOptions["format"]): Promise<Buffer> {
  const pipeline = sharp(pixels, { raw: { width: size.width, height: size.height, channels: RGB } });
  // 4:4:4 keeps the thin box lines and heat edges in their colour; 4:2:0 would smear them.
  // Standard Huffman tables instead of optimised ones: a preview about 10 % larger for an encode
  // about 40 % shorter, and the encode is on every verdict's path to the PLC.
  const jpeg = { quality: OVERLAY_JPEG_QUALITY, chromaSubsampling: "4:4:4", optimiseCoding: false } as const;
  return (format === "jpeg" ? pipeline.jpeg(jpeg) : pipeline.png()).toBuffer();
}

/** An overlay whose image is being decoded; finish() draws the regions once they are found. */
export interface PendingOverlay {
  finish(scene: OverlayScene): Promise<Buffer>;
}

/**
 * Whether `placement`, scaled to `size`, is the identity on a map of that size: the heat is then
 * the map itself (what the resampling would give value for value, without its milliseconds).
 */
function heatIsMap(placement: Transform, map: ScoreMap, size: Size): boolean {
  const t = scaleTransform(placement, size);
  const whole = t.roi.x === 0 && t.roi.y === 0 && t.roi.width === size.width && t.roi.height === size.height;
  return (
    whole &&
    t.scaleX === 1 &&
    t.scaleY === 1 &&
    t.offsetX === 0 &&
    t.offsetY === 0 &&
    t.width === size.width &&
    t.height === size.height &&
    map.width === size.width &&
    map.height === size.height
  );
}

/**
 * Starts the overlay of `image` (msg.image.buffer), whose regions lie on an original of size
 * `source`: its header and its pixels at the overlay's size are read at once on sharp's threads,
 * so that the caller finds the regions meanwhile. The image must be the one the regions were
 * found on: finish() refuses it (imageSizeMismatch) unless its size (EXIF orientation applied)
 * equals scene.source.
 */
export function startOverlay(image: Buffer, source: Size, options: OverlayOptions, limits: DecodeLimits = { maxPixels: DEFAULT_MAX_PIXELS }): PendingOverlay {
  const size = overlaySize(source, options.width);
  const decoding = readHeaderAndRaw(
    image,
    limits,
    (p) => p.resize(size.width, size.height, { fit: "fill" }).removeAlpha().toColourspace("srgb"),
    OVERLAY_BIT_DEPTH,
  );
  // Rejections are reported by finish(); one never finished (regions failed) must not go unhandled.
  decoding.catch(() => undefined);
  return {
    async finish(scene) {
      // Outside the ROI there is no score: -Infinity is below any threshold, so it stays clear.
      const colour = scene.map !== null && Number.isFinite(scene.heatStart);
      const heat =
        !colour || scene.map === null
          ? null
          : heatIsMap(scene.placement, scene.map, size)
            ? scene.map
            : mapToSource(scaleTransform(scene.placement, size), scene.map, Number.NEGATIVE_INFINITY);
      const { header, raw } = await decoding;
      const { width, height } = header.info;
      if (width !== scene.source.width || height !== scene.source.height || width !== source.width || height !== source.height) {
        throw new DefectError(
          "imageSizeMismatch",
          `msg.image is ${width}x${height} but the regions are on a ${scene.source.width}x${scene.source.height} image`,
          { expected: `${scene.source.width}x${scene.source.height}`, actual: `${width}x${height}` },
        );
      }
      const pixels = raw.data;
      if (raw.channels !== RGB || raw.width !== size.width || raw.height !== size.height || !(pixels instanceof Uint8Array)) {
        throw new DefectError("corruptImage", `The image decoded to ${raw.width}x${raw.height}x${raw.channels} instead of ${size.width}x${size.height} RGB`, {
          format: header.info.format,
          reason: "unexpected decoded layout",
        });
      }
      // Drawn in place: sharp hands over the memory of its output buffer, nobody else holds it.
      if (heat !== null) blendHeat(pixels, heat, scene.heatStart, options.opacity);
      const fx = size.width / scene.source.width;
      const fy = size.height / scene.source.height;
      const line = size.width >= THICK_LINE_FROM_WIDTH ? THICK_LINE : THIN_LINE;
      for (const r of scene.regions) {
        drawBox(pixels, size, { x: r.x * fx, y: r.y * fy, width: r.width * fx, height: r.height * fy }, BOX_COLOUR, line);
      }
      return encode(pixels, size, options.format);
    },
  };
}

/** Renders the overlay for `scene` on the encoded original `image` (startOverlay, then finish). */
export function renderOverlay(
  image: Buffer,
  scene: OverlayScene,
  options: OverlayOptions,
  limits: DecodeLimits = { maxPixels: DEFAULT_MAX_PIXELS },
): Promise<Buffer> {
  return startOverlay(image, scene.source, options, limits).finish(scene);
}
