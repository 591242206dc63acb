/**
 * The editor's preview of the last overlay: a JPEG no larger than PREVIEW_MAX_SIDE on either
 * side and no heavier than PREVIEW_MAX_BYTES, so the edit dialog never pulls megabytes through
 * the admin API whatever overlay width a flow configures.
 */
import sharp from "sharp";

/** Largest side of the preview, in pixels. */
export const PREVIEW_MAX_SIDE = 320;
/** Largest preview, in bytes. */
export const PREVIEW_MAX_BYTES = 64 * 1024;
/** Qualities tried in order until the JPEG fits PREVIEW_MAX_BYTES; then a smaller side at the lowest quality. */
const QUALITIES = [75, 55, 35] as const;
const FALLBACK_SIDE = 160;
const FALLBACK_QUALITY = 35;

/**
 * Down-scales an encoded overlay (JPEG or PNG) to a preview JPEG. Never upscales; drops alpha
 * onto white. A bounded number of tries: a lower quality first, then a smaller side.
 */
export async function renderPreview(overlay: Buffer): Promise<Buffer> {
  const encode = (side: number, quality: number): Promise<Buffer> =>
    sharp(overlay)
      .rotate()
      .resize({ width: side, height: side, fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .jpeg({ quality })
      .toBuffer();
  for (const quality of QUALITIES) {
    const preview = await encode(PREVIEW_MAX_SIDE, quality);
    if (preview.length <= PREVIEW_MAX_BYTES) return preview;
  }
  return encode(FALLBACK_SIDE, FALLBACK_QUALITY);
}
