/**
 * The "printed-pattern" product: a label with a frame, a logo, a header and columns of
 * text-like glyphs on a light background. The layout is one fixed design (an aligned part);
 * parts differ only by a shift of a pixel or two, ink strength and background noise.
 * Coordinates are in pixels of the 256-pixel reference image.
 */
import type { RawImage } from "../../lib/image/types";
import { grainLayer, noiseLayer } from "./noise";
import { Rng, clampByte, deriveSeed } from "../../lib/random";

const REFERENCE_SIZE = 256;
/** Fixed so that every seed prints the same design. */
const DESIGN_SEED = 0x5eed_1abe;

const PAPER = [236, 232, 220] as const;
const BLUE_INK = [28, 52, 120] as const;
const RED_INK = [196, 42, 38] as const;
const INK_COLOURS = [BLUE_INK, RED_INK] as const;
const NO_INK = -1;

const FRAME = { inset: 10, thickness: 3 };
const LOGO = { x: 20, y: 20, size: 24 };
const HEADER = { x: 52, y: 24, width: 184, height: 12 };
const RULE = { x: 20, y: 50, width: 216, height: 2 };
const BODY = { x: 20, y: 60, columns: 3, columnPitch: 74, lines: 12, linePitch: 15 };
/** Glyphs are 3x5 cells of 2 reference pixels, 2 pixels apart: a small typeface. */
const GLYPH = { cols: 3, rows: 5, cell: 2, gap: 2, kinds: 16 };
const CHAR_PITCH = GLYPH.cols * GLYPH.cell + GLYPH.gap;
const CHARS_PER_LINE = Math.floor((BODY.columnPitch - GLYPH.gap * 2) / CHAR_PITCH);

const MAX_SHIFT = 2;
const INK_STRENGTH = { min: 0.88, max: 1 };
const INK_MOTTLE = 0.1;
const PAPER_SHADE = 6;
const PAPER_GRAIN = 4;
const PAPER_SHADE_CELL = 96;

interface Design {
  glyphs: Uint8Array[];
  /** Glyph kind per [column][line][char], or NO_INK for a space / end of line. */
  text: Int8Array;
}

let cachedDesign: Design | undefined;

function design(): Design {
  if (cachedDesign) return cachedDesign;
  const rng = new Rng(DESIGN_SEED);
  const glyphs: Uint8Array[] = [];
  for (let g = 0; g < GLYPH.kinds; g++) {
    const bits = new Uint8Array(GLYPH.cols * GLYPH.rows);
    // Mostly-filled bitmaps read as letters; empty ones would look like gaps.
    for (let b = 0; b < bits.length; b++) bits[b] = rng.chance(0.62) ? 1 : 0;
    glyphs.push(bits);
  }
  const text = new Int8Array(BODY.columns * BODY.lines * CHARS_PER_LINE).fill(NO_INK);
  for (let column = 0; column < BODY.columns; column++) {
    for (let line = 0; line < BODY.lines; line++) {
      const length = rng.int(Math.floor(CHARS_PER_LINE * 0.6), CHARS_PER_LINE);
      for (let char = 0; char < length; char++) {
        const isSpace = char > 0 && rng.chance(0.16);
        text[(column * BODY.lines + line) * CHARS_PER_LINE + char] = isSpace ? NO_INK : rng.int(0, GLYPH.kinds - 1);
      }
    }
  }
  cachedDesign = { glyphs, text };
  return cachedDesign;
}

function inside(x: number, y: number, r: { x: number; y: number; width: number; height: number }): boolean {
  return x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
}

/** Ink colour index at a reference-pixel position, or NO_INK. */
function inkAt(x: number, y: number, d: Design): number {
  const outer = { x: FRAME.inset, y: FRAME.inset, width: REFERENCE_SIZE - 2 * FRAME.inset, height: REFERENCE_SIZE - 2 * FRAME.inset };
  const inner = {
    x: outer.x + FRAME.thickness,
    y: outer.y + FRAME.thickness,
    width: outer.width - 2 * FRAME.thickness,
    height: outer.height - 2 * FRAME.thickness,
  };
  if (inside(x, y, outer) && !inside(x, y, inner)) return 0;
  if (inside(x, y, { x: LOGO.x, y: LOGO.y, width: LOGO.size, height: LOGO.size })) {
    // A ring-and-dot logo: red with a paper-coloured square ring inside.
    const lx = x - LOGO.x;
    const ly = y - LOGO.y;
    const ring = Math.min(lx, ly, LOGO.size - 1 - lx, LOGO.size - 1 - ly);
    return ring >= 4 && ring < 7 ? NO_INK : 1;
  }
  if (inside(x, y, HEADER)) return 1;
  if (inside(x, y, RULE)) return 0;
  const bx = x - BODY.x;
  const by = y - BODY.y;
  if (bx < 0 || by < 0) return NO_INK;
  const column = Math.floor(bx / BODY.columnPitch);
  const line = Math.floor(by / BODY.linePitch);
  if (column >= BODY.columns || line >= BODY.lines) return NO_INK;
  const ox = bx - column * BODY.columnPitch;
  const oy = by - line * BODY.linePitch;
  if (oy >= GLYPH.rows * GLYPH.cell) return NO_INK;
  const char = Math.floor(ox / CHAR_PITCH);
  const cx = ox - char * CHAR_PITCH;
  if (char >= CHARS_PER_LINE || cx >= GLYPH.cols * GLYPH.cell) return NO_INK;
  const kind = d.text[(column * BODY.lines + line) * CHARS_PER_LINE + char] ?? NO_INK;
  if (kind === NO_INK) return NO_INK;
  const bits = d.glyphs[kind];
  const bit = bits?.[Math.floor(oy / GLYPH.cell) * GLYPH.cols + Math.floor(cx / GLYPH.cell)];
  return bit === 1 ? 0 : NO_INK;
}

/**
 * The printed part for `seed`; with `withPrint` false, the same part (same paper noise, same
 * lighting) with no ink at all, which the missing-print defect blends in.
 */
export function renderPrintedPattern(seed: number, size: number, withPrint: boolean): RawImage {
  const d = design();
  const rng = new Rng(deriveSeed(seed, "printed-pattern"));
  const scale = size / REFERENCE_SIZE;
  const shiftX = Math.round(rng.int(-MAX_SHIFT, MAX_SHIFT) * Math.max(scale, 0.5));
  const shiftY = Math.round(rng.int(-MAX_SHIFT, MAX_SHIFT) * Math.max(scale, 0.5));
  const strength = rng.range(INK_STRENGTH.min, INK_STRENGTH.max);
  const shade = noiseLayer(size, size, PAPER_SHADE_CELL * scale, PAPER_SHADE_CELL * scale, deriveSeed(seed, "paper"));
  const grain = grainLayer(size, size, deriveSeed(seed, "paper-grain"));
  const mottle = grainLayer(size, size, deriveSeed(seed, "ink"));
  const data = new Uint8Array(size * size * 3);

  for (let y = 0; y < size; y++) {
    const ry = Math.floor((y - shiftY + 0.5) / scale);
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const paperOffset = (shade[p]! - 0.5) * 2 * PAPER_SHADE + (grain[p]! - 0.5) * 2 * PAPER_GRAIN;
      const ink = withPrint ? inkAt(Math.floor((x - shiftX + 0.5) / scale), ry, d) : NO_INK;
      const colour = INK_COLOURS[ink];
      const cover = colour ? strength * (1 - INK_MOTTLE * mottle[p]!) : 0;
      for (let c = 0; c < 3; c++) {
        const paper = PAPER[c]! + paperOffset;
        data[p * 3 + c] = clampByte(colour ? paper + (colour[c]! - paper) * cover : paper);
      }
    }
  }
  return { data, width: size, height: size, channels: 3, bitDepth: 8 };
}
