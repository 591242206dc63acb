/**
 * The learned references of a template detector and how a part finds its own: each reference
 * is kept as 8-bit gray (a quarter of a float plane; the quantisation, 1/510 at most, is far
 * below any tolerance of the comparison), with a small thumbnail. A part is matched by the
 * normalised correlation of thumbnails: cheap enough to scan hundreds of references. On DeepPCB
 * (150 test boards and 200 training boards) a scan correlates at 0.968 or more with its own
 * template and at 0.86 at most with any other board's.
 */
import { DefectError } from "../../errors";
import { downsamplePlane } from "./align";
import { gaussianBlur } from "./filters";
import { createPlane, type GrayPlane } from "./plane";

/** Thumbnails are about this many pixels a side: coarse enough to ignore a shift of a few pixels. */
export const THUMBNAIL_SIDE = 40;
/** Blur before thumbnailing, in thumbnail pixels (Gaussian sigma). */
const THUMBNAIL_BLUR = 1;
/**
 * A thumbnail correlation this close to 1 is checked byte by byte for an exact copy (the part's
 * thumbnail is made from its unquantised plane, so a copy correlates at 1 only within rounding).
 */
const COPY_SIMILARITY = 0.999;
const LEVELS = 255;

export interface ReferenceSet {
  width: number;
  height: number;
  count: number;
  /** count x width x height gray bytes, reference after reference. */
  pixels: Uint8Array;
  /** Zero-mean, unit-norm thumbnails, one after another. */
  thumbnails: Float32Array;
  thumbnailSize: number;
}

export interface ReferenceMatch {
  index: number;
  /** Thumbnail correlation, -1..1 (1 = the same picture at thumbnail scale). */
  similarity: number;
}

export function quantizePlane(plane: GrayPlane, out: Uint8Array = new Uint8Array(plane.data.length)): Uint8Array {
  for (let i = 0; i < plane.data.length; i++) {
    const v = Math.round((plane.data[i] as number) * LEVELS);
    out[i] = v < 0 ? 0 : v > LEVELS ? LEVELS : v;
  }
  return out;
}

function planeAt(pixels: Uint8Array, width: number, height: number, index: number): GrayPlane {
  const n = width * height;
  const plane = createPlane(width, height);
  const bytes = pixels.subarray(index * n, (index + 1) * n);
  for (let i = 0; i < n; i++) plane.data[i] = (bytes[i] as number) / LEVELS;
  return plane;
}

export function referencePlane(set: ReferenceSet, index: number): GrayPlane {
  return planeAt(set.pixels, set.width, set.height, index);
}

function thumbnailFactor(width: number, height: number): number {
  return Math.max(1, Math.floor(Math.min(width, height) / THUMBNAIL_SIDE));
}

/** Zero-mean, unit-norm thumbnail (a flat image gives zeros: it correlates with nothing). */
export function thumbnail(plane: GrayPlane): Float32Array {
  // Averaged down, then blurred over about a thumbnail pixel: a part shifted by a pixel or two
  // against its reference (fine print shifted by a glyph stroke) must still look like it. Blurring
  // the small image costs a thousandth of blurring the full one.
  const small = gaussianBlur(downsamplePlane(plane, thumbnailFactor(plane.width, plane.height)), THUMBNAIL_BLUR);
  const out = new Float32Array(small.data.length);
  let mean = 0;
  for (const v of small.data) mean += v;
  mean /= out.length;
  let norm = 0;
  for (let i = 0; i < out.length; i++) {
    const d = (small.data[i] as number) - mean;
    out[i] = d;
    norm += d * d;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * scale;
  return out;
}

/** A reference set from gray bytes already quantised (a loaded file, or a finished round). */
export function referenceSet(width: number, height: number, pixels: Uint8Array): ReferenceSet {
  const n = width * height;
  if (n === 0 || pixels.length === 0 || pixels.length % n !== 0) {
    throw new DefectError("invalidOption", `${pixels.length} reference bytes are not whole ${width}x${height} images`, {
      option: "references",
      value: `${width}x${height}`,
    });
  }
  const count = pixels.length / n;
  let thumbnails = new Float32Array(0);
  let thumbnailSize = 0;
  for (let k = 0; k < count; k++) {
    const thumb = thumbnail(planeAt(pixels, width, height, k));
    if (k === 0) {
      thumbnailSize = thumb.length;
      thumbnails = new Float32Array(count * thumbnailSize);
    }
    thumbnails.set(thumb, k * thumbnailSize);
  }
  return { width, height, count, pixels, thumbnails, thumbnailSize };
}

/** Every reference's similarity to `thumb`, best first. */
export function rankReferences(set: ReferenceSet, thumb: Float32Array): ReferenceMatch[] {
  const matches: ReferenceMatch[] = [];
  const size = set.thumbnailSize;
  for (let k = 0; k < set.count; k++) {
    let dot = 0;
    const offset = k * size;
    for (let i = 0; i < size; i++) dot += (set.thumbnails[offset + i] as number) * (thumb[i] as number);
    matches.push({ index: k, similarity: dot });
  }
  // Ties keep the earlier reference: the result does not depend on the sort's stability.
  return matches.sort((a, b) => b.similarity - a.similarity || a.index - b.index);
}

/** Whether `quantized` is byte for byte reference `index`. */
export function isCopyOf(set: ReferenceSet, index: number, quantized: Uint8Array): boolean {
  const n = set.width * set.height;
  const bytes = set.pixels.subarray(index * n, (index + 1) * n);
  if (bytes.length !== quantized.length) return false;
  for (let i = 0; i < n; i++) if (bytes[i] !== quantized[i]) return false;
  return true;
}

/** The learned reference that `quantized` is a byte-for-byte copy of, among the best matches; undefined when none. */
export function findCopy(set: ReferenceSet, ranked: readonly ReferenceMatch[], quantized: Uint8Array): number | undefined {
  for (const match of ranked) {
    if (match.similarity < COPY_SIMILARITY) return undefined;
    if (isCopyOf(set, match.index, quantized)) return match.index;
  }
  return undefined;
}
