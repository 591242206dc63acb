/**
 * Anti-aliased coverage of defect shapes (0..1 per pixel) and how a defect is painted with it.
 * Shapes are in continuous coordinates, pixel (x, y) covering [x, x + 1) x [y, y + 1). The
 * ground-truth mask is where coverage reaches one half, i.e. exactly the shape's outline, so
 * soft edges never leak into the mask and the mask never misses the visible core.
 * Typed-array indices below are in range by construction.
 */
import type { RawImage } from "../../lib/image/types";
import { clamp, clampByte, type Vector } from "../../lib/random";

export const MASK_THRESHOLD = 0.5;
const MASK_ON = 255;

export interface EllipseShape {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  /** Unit vector of the rx axis. */
  axis: Vector;
  /** Width of the soft edge in pixels (about 1 for a crisp, anti-aliased edge). */
  edge: number;
  /** Optional ragged outline: a [0, 1) noise field of the image size and how far it moves the edge (fraction of the radius). */
  warp?: { field: Float32Array; amount: number };
}

/** Target value of one channel of one pixel given its current value; `pixel` is the row-major pixel index. */
export type Tone = (value: number, channel: number, pixel: number) => number;

export class Coverage {
  readonly alpha: Float32Array;

  constructor(readonly size: number) {
    this.alpha = new Float32Array(size * size);
  }

  /** A line from a to b whose half-width changes linearly from `halfWidthA` to `halfWidthB`. */
  stroke(a: Vector, b: Vector, halfWidthA: number, halfWidthB: number): void {
    const reach = Math.max(halfWidthA, halfWidthB) + 1;
    const vx = b.x - a.x;
    const vy = b.y - a.y;
    const lengthSquared = vx * vx + vy * vy;
    this.forBox(Math.min(a.x, b.x) - reach, Math.min(a.y, b.y) - reach, Math.max(a.x, b.x) + reach, Math.max(a.y, b.y) + reach, (px, py) => {
      const t = lengthSquared === 0 ? 0 : clamp(((px - a.x) * vx + (py - a.y) * vy) / lengthSquared, 0, 1);
      const dx = px - (a.x + vx * t);
      const dy = py - (a.y + vy * t);
      const halfWidth = halfWidthA + (halfWidthB - halfWidthA) * t;
      return clamp(halfWidth + 0.5 - Math.sqrt(dx * dx + dy * dy), 0, 1);
    });
  }

  /** Strokes a polyline, tapering the half-width from `startHalfWidth` to `endHalfWidth`. */
  polyline(points: readonly Vector[], startHalfWidth: number, endHalfWidth: number): void {
    const segments = points.length - 1;
    for (let i = 0; i < segments; i++) {
      const from = startHalfWidth + ((endHalfWidth - startHalfWidth) * i) / segments;
      const to = startHalfWidth + ((endHalfWidth - startHalfWidth) * (i + 1)) / segments;
      this.stroke(points[i]!, points[i + 1]!, from, to);
    }
  }

  ellipse(shape: EllipseShape): void {
    const warp = shape.warp;
    const reach = Math.max(shape.rx, shape.ry) * (1 + (warp?.amount ?? 0)) + shape.edge + 1;
    const radius = Math.min(shape.rx, shape.ry);
    this.forBox(shape.cx - reach, shape.cy - reach, shape.cx + reach, shape.cy + reach, (px, py, pixel) => {
      const dx = px - shape.cx;
      const dy = py - shape.cy;
      const along = (dx * shape.axis.x + dy * shape.axis.y) / shape.rx;
      const across = (dy * shape.axis.x - dx * shape.axis.y) / shape.ry;
      let r = Math.sqrt(along * along + across * across);
      if (warp) r /= 1 + (warp.field[pixel]! - 0.5) * 2 * warp.amount;
      // Distance outside the outline in pixels, approximated along the shorter radius.
      return clamp(0.5 - ((r - 1) * radius) / shape.edge, 0, 1);
    });
  }

  /** Number of pixels in the mask. */
  area(): number {
    let count = 0;
    for (let p = 0; p < this.alpha.length; p++) if (this.alpha[p]! >= MASK_THRESHOLD) count++;
    return count;
  }

  /** Binary 0/255 single-channel mask of the same size. */
  toMask(): RawImage {
    const data = new Uint8Array(this.alpha.length);
    for (let p = 0; p < data.length; p++) data[p] = this.alpha[p]! >= MASK_THRESHOLD ? MASK_ON : 0;
    return { data, width: this.size, height: this.size, channels: 1, bitDepth: 8 };
  }

  /** Union with another coverage of the same size (for defects painted in layers). */
  merge(other: Coverage): void {
    for (let p = 0; p < this.alpha.length; p++) this.alpha[p] = Math.max(this.alpha[p]!, other.alpha[p]!);
  }

  /** Visits the pixels of a clipped box, keeping the larger of old and new coverage. */
  private forBox(minX: number, minY: number, maxX: number, maxY: number, cover: (px: number, py: number, pixel: number) => number): void {
    const x0 = Math.max(0, Math.floor(minX));
    const y0 = Math.max(0, Math.floor(minY));
    const x1 = Math.min(this.size - 1, Math.ceil(maxX));
    const y1 = Math.min(this.size - 1, Math.ceil(maxY));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const pixel = y * this.size + x;
        const value = cover(x + 0.5, y + 0.5, pixel);
        if (value > this.alpha[pixel]!) this.alpha[pixel] = value;
      }
    }
  }
}

/** Mixes `tone` into the 8-bit image in place, weighted by coverage. */
export function paint(image: RawImage, coverage: Coverage, tone: Tone): void {
  const { data, channels } = image;
  const alpha = coverage.alpha;
  for (let pixel = 0; pixel < alpha.length; pixel++) {
    const a = alpha[pixel]!;
    if (a === 0) continue;
    for (let c = 0; c < channels; c++) {
      const index = pixel * channels + c;
      const value = data[index]!;
      data[index] = clampByte(value + (tone(value, c, pixel) - value) * a);
    }
  }
}

/** Mean of each channel over the mask pixels (the local colour a defect should stand out from). */
export function meanUnderMask(image: RawImage, coverage: Coverage): number[] {
  const sums = new Array<number>(image.channels).fill(0);
  let count = 0;
  for (let pixel = 0; pixel < coverage.alpha.length; pixel++) {
    if (coverage.alpha[pixel]! < MASK_THRESHOLD) continue;
    count++;
    for (let c = 0; c < image.channels; c++) sums[c] = sums[c]! + image.data[pixel * image.channels + c]!;
  }
  return sums.map((sum) => (count === 0 ? 0 : sum / count));
}
