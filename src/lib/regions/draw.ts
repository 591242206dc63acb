/**
 * Drawing on interleaved 8-bit RGB pixels: the heat colouring of an anomaly map and region
 * boxes. Pure pixel loops, so the overlay's look is tested without an encoder in the way.
 */
import type { Rect, ScoreMap } from "../image/types";
import type { Size } from "./types";

export type Rgb = readonly [number, number, number];

const RGB = 3;
const BYTE_MAX = 255;

/**
 * Heat colours run from yellow at the threshold to red at the highest score shown: warm
 * colours read as "defect" on the grey and metallic parts of most inspections, and scores
 * below the threshold get no colour at all, so good areas stay as photographed.
 */
export const HEAT_LOW_COLOUR: Rgb = [BYTE_MAX, BYTE_MAX, 0];
export const HEAT_HIGH_COLOUR: Rgb = [BYTE_MAX, 0, 0];
/** Cyan: far from the yellow-red heat colours, and rare on industrial parts. */
export const BOX_COLOUR: Rgb = [0, BYTE_MAX, BYTE_MAX];

/** Heat colour of t in [0, 1] (0 = threshold, 1 = highest score), linear between the two ends. */
export function heatColour(t: number): Rgb {
  const f = Math.min(1, Math.max(0, t));
  const mix = (c: 0 | 1 | 2): number => Math.round(HEAT_LOW_COLOUR[c] + (HEAT_HIGH_COLOUR[c] - HEAT_LOW_COLOUR[c]) * f);
  return [mix(0), mix(1), mix(2)];
}

/**
 * Blends the heat colour of every pixel scoring at least `start` over `pixels` with `opacity`.
 * Colours are normalised from `start` to the highest score in `heat`, so the scale follows each
 * image; when all shown scores are equal they get the high colour.
 */
export function blendHeat(pixels: Uint8Array, heat: ScoreMap, start: number, opacity: number): void {
  let high = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < heat.data.length; i++) {
    const v = heat.data[i] as number;
    if (v > high) high = v;
  }
  if (!(high >= start) || opacity <= 0) return;
  const span = high - start;
  for (let i = 0, p = 0; i < heat.data.length; i++, p += RGB) {
    const v = heat.data[i] as number;
    if (!(v >= start)) continue;
    const colour = heatColour(span > 0 ? (v - start) / span : 1);
    for (let c = 0; c < RGB; c++) {
      const base = pixels[p + c] as number;
      pixels[p + c] = Math.round(base + ((colour[c] as number) - base) * opacity);
    }
  }
}

function fillRect(pixels: Uint8Array, size: Size, x0: number, y0: number, x1: number, y1: number, colour: Rgb): void {
  for (let y = Math.max(0, y0); y < Math.min(size.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(size.width, x1); x++) {
      const p = (y * size.width + x) * RGB;
      pixels[p] = colour[0];
      pixels[p + 1] = colour[1];
      pixels[p + 2] = colour[2];
    }
  }
}

/**
 * Outlines a box given in continuous pixel coordinates of `pixels`, `lineWidth` pixels thick,
 * on the inside of the box's edge pixels; a box thinner than the line becomes a filled block,
 * so even a one-pixel region stays visible.
 */
export function drawBox(pixels: Uint8Array, size: Size, box: Rect, colour: Rgb, lineWidth: number): void {
  const x0 = Math.floor(box.x);
  const y0 = Math.floor(box.y);
  const x1 = Math.max(x0 + 1, Math.ceil(box.x + box.width));
  const y1 = Math.max(y0 + 1, Math.ceil(box.y + box.height));
  fillRect(pixels, size, x0, y0, x1, y0 + lineWidth, colour);
  fillRect(pixels, size, x0, y1 - lineWidth, x1, y1, colour);
  fillRect(pixels, size, x0, y0, x0 + lineWidth, y1, colour);
  fillRect(pixels, size, x1 - lineWidth, y0, x1, y1, colour);
}
