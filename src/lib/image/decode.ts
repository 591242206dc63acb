/**
 * Encoded bytes -> metadata or raw pixels, via sharp. Every image is probed from its header
 * first so the pixel limit is enforced (and reported with sizes) before anything is decoded.
 */
import sharp from "sharp";
import { DefectError, describeError } from "../errors";
import { sniffFormat } from "./signature";
import type { ImageInfo, PixelArray, RawImage } from "./types";

export const DEFAULT_MAX_PIXELS = 50_000_000;

export interface DecodeLimits {
  /** Largest width x height accepted; guards against decompression bombs. */
  maxPixels: number;
  /**
   * SVG is refused unless this is true: it is text rendered by librsvg, a large attack surface
   * for bytes a message or an HTTP request may carry, and no camera writes it.
   */
  allowSvg?: boolean;
}

/**
 * "error" rejects truncated files and broken data (verified for JPEG and PNG, which otherwise
 * decode their missing part as gray) while tolerating the harmless warnings many cameras'
 * JPEGs trigger, such as extraneous bytes before a marker.
 */
const FAIL_ON = "error";
const ORIENTATION_NONE = 1;
const GRAY_SPACES: ReadonlySet<string> = new Set(["b-w", "grey16"]);

/** What the header says, plus what the pipelines need to pick a colour space. */
export interface ImageHeader {
  info: ImageInfo;
  gray: boolean;
  hasAlpha: boolean;
}

function checkLimits(limits: DecodeLimits): void {
  if (!(Number.isInteger(limits.maxPixels) && limits.maxPixels >= 1)) {
    throw new DefectError("invalidOption", `Option "maxPixels" must be a whole number above 0, got ${limits.maxPixels}.`, {
      option: "maxPixels",
      value: String(limits.maxPixels),
    });
  }
}

/** Why sharp could not read the header: an unsupported format, a damaged file, or no image at all. */
function unreadable(buffer: Buffer, cause: unknown): DefectError {
  const sniffed = sniffFormat(buffer);
  const reason = describeError(cause);
  if (sniffed?.readable === false) {
    return new DefectError(
      "unsupportedFormat",
      `${sniffed.name} images are not supported; use JPEG, PNG, WebP, TIFF, GIF or AVIF/HEIF.`,
      { format: sniffed.name },
      { cause },
    );
  }
  if (sniffed?.readable === true) {
    return new DefectError(
      "corruptImage",
      `The ${sniffed.name} image is corrupt or truncated: ${reason}`,
      {
        format: sniffed.name,
        reason,
      },
      { cause },
    );
  }
  return new DefectError(
    "notAnImage",
    `The data (${buffer.length} bytes) is not an image: ${reason}`,
    {
      bytes: buffer.length,
      reason,
    },
    { cause },
  );
}

/** Reads the header only (never the pixels) and enforces the pixel limit. */
export async function readHeader(buffer: Buffer, limits: DecodeLimits): Promise<ImageHeader> {
  checkLimits(limits);
  // sharp would read a string as a file path; only bytes are images here.
  if (!(buffer instanceof Uint8Array)) {
    throw new DefectError("notAnImage", `Expected image bytes in a Buffer, got ${typeof buffer}.`, { type: typeof buffer });
  }
  let meta: sharp.Metadata;
  try {
    // No sharp pixel limit here: the check below reports the sizes, which sharp's error does not.
    meta = await sharp(buffer, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (err) {
    throw unreadable(buffer, err);
  }
  if (meta.format === "svg" && limits.allowSvg !== true) {
    throw new DefectError(
      "unsupportedFormat",
      "SVG images are refused: convert them to PNG, or allow SVG in Node-RED's settings (defectDetection: { allowSvg: true }).",
      { format: "svg" },
    );
  }
  // Animated GIF and WebP: sharp reads the first frame only, which is what is inspected.
  const { width, height } = meta.autoOrient;
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    throw new DefectError("pixelLimit", `The image of ${width}x${height} (${pixels} pixels) exceeds the limit of ${limits.maxPixels} pixels.`, {
      width,
      height,
      pixels,
      maxPixels: limits.maxPixels,
    });
  }
  const info: ImageInfo = {
    format: meta.format,
    width,
    height,
    channels: meta.channels,
    bitDepth: meta.depth === "ushort" ? 16 : 8,
    orientation: meta.orientation ?? ORIENTATION_NONE,
  };
  return { info, gray: GRAY_SPACES.has(meta.space), hasAlpha: meta.hasAlpha };
}

/** Header-only metadata: displayed size (EXIF orientation applied), channels and bit depth. */
export async function probeImage(buffer: Buffer, limits: DecodeLimits): Promise<ImageInfo> {
  return (await readHeader(buffer, limits)).info;
}

/** A sharp pipeline that applies EXIF orientation and refuses oversized or damaged input. */
export function openImage(buffer: Buffer, limits: DecodeLimits): sharp.Sharp {
  return sharp(buffer, { autoOrient: true, failOn: FAIL_ON, limitInputPixels: limits.maxPixels });
}

function decodeFailure(err: unknown, info: ImageInfo, limits: DecodeLimits): DefectError {
  const reason = describeError(err);
  // Sharp's own limit, should the header check above ever disagree with libvips.
  if (/pixel limit/i.test(reason)) {
    const pixels = info.width * info.height;
    return new DefectError(
      "pixelLimit",
      `The image of ${info.width}x${info.height} (${pixels} pixels) exceeds the limit of ${limits.maxPixels} pixels.`,
      { width: info.width, height: info.height, pixels, maxPixels: limits.maxPixels },
      { cause: err },
    );
  }
  return new DefectError(
    "corruptImage",
    `The ${info.format} image could not be decoded: ${reason}`,
    {
      format: info.format,
      reason,
    },
    { cause: err },
  );
}

/** Runs a pipeline to raw interleaved pixels of the given depth. */
export async function runToRaw(pipeline: sharp.Sharp, bitDepth: 8 | 16, header: ImageInfo, limits: DecodeLimits): Promise<RawImage> {
  let result: { data: Buffer; info: sharp.OutputInfo };
  try {
    result = await pipeline.raw(bitDepth === 16 ? { depth: "ushort" } : {}).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw decodeFailure(err, header, limits);
  }
  const { data: bytes, info } = result;
  let data: PixelArray;
  if (bitDepth === 16) {
    // A Uint16Array view needs an even byte offset; sharp's buffers normally have offset 0.
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : Buffer.from(bytes);
    data = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
  } else {
    data = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  return { data, width: info.width, height: info.height, channels: info.channels, bitDepth };
}

/**
 * The header and a pipeline's raw pixels, read at the same time (sharp's threads) instead of
 * one after the other; the header's errors (unreadable, over the pixel limit) come first, as
 * they would had it been read first. sharp refuses oversized input by itself (openImage).
 */
export async function readHeaderAndRaw(
  buffer: Buffer,
  limits: DecodeLimits,
  build: (image: sharp.Sharp) => sharp.Sharp,
  bitDepth: 8 | 16,
): Promise<{ header: ImageHeader; raw: RawImage }> {
  const placeholder: ImageInfo = { format: "unknown", width: 0, height: 0, channels: 0, bitDepth, orientation: ORIENTATION_NONE };
  let pixels: Promise<RawImage | { failed: unknown }>;
  try {
    pixels = runToRaw(build(openImage(buffer, limits)), bitDepth, placeholder, limits).catch((failed: unknown) => ({ failed }));
  } catch (failed) {
    pixels = Promise.resolve({ failed });
  }
  const header = await readHeader(buffer, limits);
  const raw = await pixels;
  if ("failed" in raw) {
    const cause = raw.failed instanceof DefectError && raw.failed.cause !== undefined ? raw.failed.cause : raw.failed;
    throw decodeFailure(cause, header.info, limits);
  }
  return { header, raw };
}

/** Keeps gray and alpha of an RGBA decode of a gray+alpha image (R = G = B there). */
function grayAlphaFromRgba(image: RawImage): RawImage {
  const pixels = image.width * image.height;
  const data = new Uint8Array(pixels * 2);
  for (let i = 0; i < pixels; i++) {
    data[2 * i] = image.data[4 * i]!;
    data[2 * i + 1] = image.data[4 * i + 3]!;
  }
  return { ...image, data, channels: 2 };
}

/**
 * Full decode to interleaved pixels with EXIF orientation applied. 16-bit sources stay 16-bit;
 * gray stays 1 channel (2 with alpha), colour 3 (4 with alpha).
 */
export async function decodeImage(buffer: Buffer, limits: DecodeLimits): Promise<RawImage> {
  const header = await readHeader(buffer, limits);
  const { info } = header;
  const deep = info.bitDepth === 16;
  const pipeline = openImage(buffer, limits);
  if (header.gray && !(header.hasAlpha && !deep)) {
    return runToRaw(pipeline.toColourspace(deep ? "grey16" : "b-w"), info.bitDepth, info, limits);
  }
  const image = await runToRaw(pipeline.toColourspace(deep ? "rgb16" : "srgb"), info.bitDepth, info, limits);
  // sharp's raw output keeps only the first band of an 8-bit gray image, dropping its alpha.
  return header.gray ? grayAlphaFromRgba(image) : image;
}
