/**
 * One image from a file, a URL or bytes in hand, checked by a probe (format, size, pixel limit)
 * but not decoded: the encoded bytes travel on, so fanning a message out copies kilobytes of
 * JPEG rather than megabytes of pixels.
 */
import { DefectError, isDefectError } from "../errors";
import { probeImage, toImageBuffer, type DecodeLimits } from "../image";
import type { ImageInfo } from "../image/types";
import { describe } from "../message";
import { fetchSnapshot, redactUrl, parseSnapshotUrl, type SnapshotRequest } from "./fetch-snapshot";
import { confinePath } from "./confine";
import { readImageFile } from "./read-file";

export type ImageSourceKind = "file" | "folder" | "url" | "payload";

/** What the image source puts in msg.image; later nodes read `buffer` and the size from it. */
export interface SourceImage extends ImageInfo {
  /** The encoded bytes, unchanged. */
  buffer: Buffer;
  source: ImageSourceKind;
  path?: string;
  url?: string;
}

/** Probe errors gain a `source` detail naming the file or URL, so the message says which image. */
async function probeFrom(buffer: Buffer, limits: DecodeLimits, where: string): Promise<ImageInfo> {
  try {
    return await probeImage(buffer, limits);
  } catch (error) {
    if (!isDefectError(error)) throw error;
    throw new DefectError(error.code, `${where}: ${error.message}`, { ...error.details, source: where }, { cause: error });
  }
}

export async function loadImageFile(path: string, limits: DecodeLimits, source: "file" | "folder", maxBytes?: number): Promise<SourceImage> {
  const buffer = await readImageFile(path, maxBytes);
  const info = await probeFrom(buffer, limits, path);
  return { ...info, buffer, source, path };
}

/**
 * A file that must lie inside `folder` (a watched folder, or the folder paths from messages are
 * confined to): `..`, other absolute paths and symbolic links out are refused first.
 */
export async function loadImageFileWithin(
  folder: string,
  path: string,
  limits: DecodeLimits,
  source: "file" | "folder",
  maxBytes?: number,
): Promise<SourceImage> {
  return loadImageFile(await confinePath(folder, path), limits, source, maxBytes);
}

export async function loadImageUrl(request: SnapshotRequest, limits: DecodeLimits): Promise<SourceImage> {
  const url = redactUrl(parseSnapshotUrl(request.url));
  const buffer = await fetchSnapshot(request);
  const info = await probeFrom(buffer, limits, url);
  return { ...info, buffer, source: "url", url };
}

/** Bytes from a message: a Buffer, a Uint8Array, base64 text or a data: URL. */
export async function loadImageBytes(value: unknown, limits: DecodeLimits, where: string): Promise<SourceImage> {
  const buffer = toImageBuffer(value);
  if (buffer === undefined) {
    throw new DefectError("noImageInput", `${where} holds no image: expected a Buffer, base64 text or a data: URL, got ${describe(value)}`, {
      source: where,
      type: describe(value),
    });
  }
  const info = await probeFrom(buffer, limits, where);
  return { ...info, buffer, source: "payload" };
}
