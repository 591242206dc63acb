/**
 * Recognises image formats by their leading bytes, only to explain why sharp refused a buffer:
 * a format sharp reads (so the file is damaged), one it cannot read (BMP and friends are not in
 * sharp's prebuilt libvips), or neither.
 */

export interface SniffedFormat {
  name: string;
  /** Whether sharp's prebuilt binaries decode this format. */
  readable: boolean;
}

interface Signature {
  name: string;
  readable: boolean;
  matches: (b: Buffer) => boolean;
}

function startsWith(b: Buffer, bytes: readonly number[], at = 0): boolean {
  return b.length >= at + bytes.length && bytes.every((v, i) => b[at + i] === v);
}

function ascii(b: Buffer, text: string, at = 0): boolean {
  return b.length >= at + text.length && b.toString("latin1", at, at + text.length) === text;
}

/** BITMAPCOREHEADER .. BITMAPV5HEADER sizes; "BM" alone is too common a text prefix. */
const BMP_DIB_HEADER_SIZES: ReadonlySet<number> = new Set([12, 40, 52, 56, 64, 108, 124]);
const BMP_DIB_SIZE_OFFSET = 14;
const HEIF_BRANDS: ReadonlySet<string> = new Set(["heic", "heix", "hevc", "mif1", "msf1", "avif", "avis"]);
const FTYP_OFFSET = 4;
const BRAND_OFFSET = 8;
const DICOM_PREAMBLE = 128;
const ICO_MIN_BYTES = 22;
const JP2_BOX = [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a];
const JXL_BOX = [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a];

const SIGNATURES: readonly Signature[] = [
  { name: "JPEG", readable: true, matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { name: "PNG", readable: true, matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { name: "GIF", readable: true, matches: (b) => ascii(b, "GIF87a") || ascii(b, "GIF89a") },
  { name: "WebP", readable: true, matches: (b) => ascii(b, "RIFF") && ascii(b, "WEBP", BRAND_OFFSET) },
  {
    name: "TIFF",
    readable: true,
    matches: (b) => startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]),
  },
  {
    name: "HEIF",
    readable: true,
    matches: (b) => ascii(b, "ftyp", FTYP_OFFSET) && HEIF_BRANDS.has(b.toString("latin1", BRAND_OFFSET, BRAND_OFFSET + 4)),
  },
  { name: "SVG", readable: true, matches: (b) => ascii(b, "<svg") },
  {
    name: "BMP",
    readable: false,
    matches: (b) => ascii(b, "BM") && b.length >= BMP_DIB_SIZE_OFFSET + 4 && BMP_DIB_HEADER_SIZES.has(b.readUInt32LE(BMP_DIB_SIZE_OFFSET)),
  },
  {
    name: "ICO",
    readable: false,
    matches: (b) => b.length >= ICO_MIN_BYTES && (startsWith(b, [0, 0, 1, 0]) || startsWith(b, [0, 0, 2, 0])) && b[4]! > 0,
  },
  { name: "PSD", readable: false, matches: (b) => ascii(b, "8BPS") },
  { name: "JPEG 2000", readable: false, matches: (b) => startsWith(b, JP2_BOX) || startsWith(b, [0xff, 0x4f, 0xff, 0x51]) },
  { name: "JPEG XL", readable: false, matches: (b) => startsWith(b, JXL_BOX) || startsWith(b, [0xff, 0x0a]) },
  { name: "OpenEXR", readable: false, matches: (b) => startsWith(b, [0x76, 0x2f, 0x31, 0x01]) },
  { name: "QOI", readable: false, matches: (b) => ascii(b, "qoif") },
  { name: "PNM", readable: false, matches: (b) => /^P[1-7]\s+[\d#]/.test(b.toString("latin1", 0, 16)) },
  { name: "DICOM", readable: false, matches: (b) => ascii(b, "DICM", DICOM_PREAMBLE) },
  { name: "PDF", readable: false, matches: (b) => ascii(b, "%PDF-") },
];

export function sniffFormat(buffer: Buffer): SniffedFormat | undefined {
  const found = SIGNATURES.find((s) => s.matches(buffer));
  return found && { name: found.name, readable: found.readable };
}
