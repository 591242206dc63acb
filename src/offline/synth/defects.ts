/**
 * Defective parts: the good part of the same seed with one defect painted on, plus its
 * ground-truth mask. Defects are meant to be plainly visible (an anomaly detector should find
 * them) while their size, place and shape change with the seed.
 * Lengths are in pixels of the 256-pixel reference image and scaled with the image size.
 */
import { DefectError } from "../../lib/errors";
import type { RawImage } from "../../lib/image/types";
import { Coverage, MASK_THRESHOLD, meanUnderMask, paint, type EllipseShape, type Tone } from "./coverage";
import { grainLayer, noiseLayer } from "./noise";
import { renderPrintedPattern } from "./print";
import { Rng, deriveSeed, normalize, type Vector } from "../../lib/random";
import { DEFAULT_IMAGE_SIZE, REFERENCE_SIZE, generateGood, type TextureKind } from "./textures";

export const DEFECT_KINDS = ["scratch", "spot", "crack", "hole", "missing-print"] as const;
export type DefectKind = (typeof DEFECT_KINDS)[number];

export interface DefectSample {
  image: RawImage;
  /** 1 channel, 0 = good, 255 = defect. */
  mask: RawImage;
}

export function isDefectKind(value: unknown): value is DefectKind {
  return typeof value === "string" && (DEFECT_KINDS as readonly string[]).includes(value);
}

export function assertDefectKind(value: unknown): asserts value is DefectKind {
  if (!isDefectKind(value)) {
    throw new DefectError("invalidOption", `Unknown defect kind "${String(value)}"; expected one of ${DEFECT_KINDS.join(", ")}.`, {
      option: "defect",
      value: String(value),
      expected: DEFECT_KINDS.join(","),
    });
  }
}

/** Keeps defect centres this far (fraction of the size) from the border, so they are never cut off much. */
const PLACEMENT_MARGIN = 0.22;
/** Above this mean brightness (bare paper) a bright mark would vanish, so scratches go dark. */
const BRIGHT_SURFACE = 170;

const SCRATCH = { halfWidth: [1.0, 1.7], length: [0.25, 0.55], bend: 0.25, segments: 24, taper: 0.15, bright: 245, dark: 0.25 } as const;
const SPOT = { radius: [9, 20], aspect: [0.6, 1], edge: [2.5, 5], warp: 0.3, warpCell: 10, darken: [0.3, 0.5] } as const;
/** Rust-brown stain as a multiplier per RGB channel. */
const STAIN_TINT = [0.8, 0.48, 0.28] as const;
const CRACK = { halfWidth: [1.2, 2.0], tipHalfWidth: 0.5, length: [0.18, 0.3], step: 3, jag: 0.9, drift: 0.15, branches: [1, 3], darken: 0.15 } as const;
const HOLE = { radius: [8, 16], aspect: [0.75, 1], rim: 2.5, edge: 1, floor: 18, floorTexture: 0.08, rimGain: 1.3, rimLift: 40 } as const;
const PATCH = {
  radius: [14, 28],
  aspect: [0.5, 1],
  edge: 1.5,
  warp: 0.15,
  warpCell: 16,
  offset: [35, 50],
  grain: 4,
  tries: 16,
  minInkFraction: 0.3,
  inkDifference: 40,
} as const;

export function generateDefect(kind: TextureKind, defect: DefectKind, seed: number, size: number = DEFAULT_IMAGE_SIZE): DefectSample {
  assertDefectKind(defect);
  const good = generateGood(kind, seed, size);
  return paintDefect(good, defect, seed, kind);
}

/**
 * One defect painted on a copy of any square 8-bit image (a real good part as well as a synthetic
 * one); `kind` says what surface it is, which only the missing-print defect looks at.
 */
export function paintDefect(good: RawImage, defect: DefectKind, seed: number, kind: TextureKind = "cast-surface"): DefectSample {
  assertDefectKind(defect);
  if (good.width !== good.height || !(good.data instanceof Uint8Array)) {
    throw new RangeError(`paintDefect needs a square 8-bit image, not ${good.width}x${good.height}`);
  }
  const size = good.width;
  const image: RawImage = { ...good, data: new Uint8Array(good.data) };
  const ctx: PaintContext = { image, size, scale: size / REFERENCE_SIZE, rng: new Rng(deriveSeed(seed, kind, defect)), seed, kind };
  const coverage = PAINTERS[defect](ctx);
  return { image, mask: coverage.toMask() };
}

interface PaintContext {
  image: RawImage;
  size: number;
  scale: number;
  rng: Rng;
  seed: number;
  kind: TextureKind;
}

const PAINTERS: Record<DefectKind, (ctx: PaintContext) => Coverage> = {
  scratch: paintScratch,
  spot: paintSpot,
  crack: paintCrack,
  hole: paintHole,
  "missing-print": paintMissingPrint,
};

function between(rng: Rng, bounds: readonly [number, number]): number {
  return rng.range(bounds[0], bounds[1]);
}

function placeCentre(ctx: PaintContext): Vector {
  const margin = ctx.size * PLACEMENT_MARGIN;
  return { x: ctx.rng.range(margin, ctx.size - margin), y: ctx.rng.range(margin, ctx.size - margin) };
}

const darken =
  (factor: number): Tone =>
  (value) =>
    value * factor;

function paintScratch(ctx: PaintContext): Coverage {
  const { rng, size, scale } = ctx;
  const centre = placeCentre(ctx);
  const direction = rng.unitVector();
  const normal = { x: -direction.y, y: direction.x };
  const half = (between(rng, SCRATCH.length) * size) / 2;
  const bend = rng.range(-SCRATCH.bend, SCRATCH.bend) * half;
  const halfWidth = Math.max(1, between(rng, SCRATCH.halfWidth) * scale);
  const taper = (t: number): number => Math.max(0.5, halfWidth * Math.min(1, t / SCRATCH.taper, (1 - t) / SCRATCH.taper));
  const coverage = new Coverage(size);
  // A quadratic Bezier: straight scratches and gently curved tool slips alike.
  let previous: Vector | undefined;
  for (let i = 0; i <= SCRATCH.segments; i++) {
    const t = i / SCRATCH.segments;
    const s = 2 * t - 1;
    const lift = bend * (1 - s * s);
    const point = { x: centre.x + direction.x * half * s + normal.x * lift, y: centre.y + direction.y * half * s + normal.y * lift };
    if (previous) coverage.stroke(previous, point, taper(t - 1 / SCRATCH.segments), taper(t));
    previous = point;
  }
  const surface = average(meanUnderMask(ctx.image, coverage));
  const bright = surface < BRIGHT_SURFACE && rng.chance(0.5);
  paint(ctx.image, coverage, bright ? () => SCRATCH.bright : darken(SCRATCH.dark));
  return coverage;
}

function paintSpot(ctx: PaintContext): Coverage {
  const { rng, size, scale, image } = ctx;
  const shape = blob(ctx, SPOT.radius, SPOT.aspect, between(rng, SPOT.edge) * scale, SPOT.warp, SPOT.warpCell);
  const coverage = new Coverage(size);
  coverage.ellipse(shape);
  const stained = image.channels === 3 && rng.chance(0.5);
  const factor = between(rng, SPOT.darken);
  paint(image, coverage, stained ? (value, channel) => value * (STAIN_TINT[channel] ?? 1) : darken(factor));
  return coverage;
}

function paintCrack(ctx: PaintContext): Coverage {
  const { rng, size, scale } = ctx;
  const centre = placeCentre(ctx);
  const heading = rng.unitVector();
  const halfWidth = Math.max(1, between(rng, CRACK.halfWidth) * scale);
  const tip = CRACK.tipHalfWidth;
  const armLength = between(rng, CRACK.length) * size;
  const coverage = new Coverage(size);
  // Grows both ways from where it started, thinning towards the tips.
  const arms = [crackPath(ctx, centre, heading, armLength), crackPath(ctx, centre, { x: -heading.x, y: -heading.y }, armLength)];
  for (const arm of arms) coverage.polyline(arm, halfWidth, tip);
  const branches = rng.int(CRACK.branches[0], CRACK.branches[1]);
  for (let b = 0; b < branches; b++) {
    const arm = rng.pick(arms);
    const at = rng.int(Math.floor(arm.length * 0.2), Math.max(Math.floor(arm.length * 0.2), Math.floor(arm.length * 0.7)));
    const start = arm[at] ?? centre;
    const side = rng.chance(0.5) ? 1 : -1;
    const along = normalize({ x: arm[arm.length - 1]!.x - centre.x, y: arm[arm.length - 1]!.y - centre.y });
    const branchHeading = normalize({ x: along.x - side * along.y * rng.range(0.6, 1.4), y: along.y + side * along.x * rng.range(0.6, 1.4) });
    const path = crackPath(ctx, start, branchHeading, armLength * rng.range(0.3, 0.6));
    coverage.polyline(path, Math.max(tip, halfWidth * 0.7), tip);
  }
  paint(ctx.image, coverage, darken(CRACK.darken));
  return coverage;
}

/** A jagged walk: each step swings around a heading that itself drifts slowly. */
function crackPath(ctx: PaintContext, start: Vector, heading: Vector, length: number): Vector[] {
  const { rng, size } = ctx;
  const step = Math.max(1.5, CRACK.step * ctx.scale);
  const points: Vector[] = [start];
  let course = heading;
  let position = start;
  for (let travelled = 0; travelled < length; travelled += step) {
    const swing = rng.unitVector();
    const drift = rng.unitVector();
    course = normalize({ x: course.x + CRACK.drift * drift.x, y: course.y + CRACK.drift * drift.y });
    const direction = normalize({ x: course.x + CRACK.jag * swing.x, y: course.y + CRACK.jag * swing.y });
    position = { x: position.x + direction.x * step, y: position.y + direction.y * step };
    if (position.x < 0 || position.y < 0 || position.x >= size || position.y >= size) break;
    points.push(position);
  }
  return points;
}

function paintHole(ctx: PaintContext): Coverage {
  const { size, scale, image } = ctx;
  const inner = blob(ctx, HOLE.radius, HOLE.aspect, HOLE.edge, 0, 1);
  const rim = Math.max(1, HOLE.rim * scale);
  const rimShape: EllipseShape = { ...inner, rx: inner.rx + rim, ry: inner.ry + rim };
  const outer = new Coverage(size);
  outer.ellipse(rimShape);
  // A raised, light burr around a dark opening; the mask covers both.
  paint(image, outer, (value) => value * HOLE.rimGain + HOLE.rimLift);
  const opening = new Coverage(size);
  opening.ellipse(inner);
  paint(image, opening, (value) => HOLE.floor + value * HOLE.floorTexture);
  outer.merge(opening);
  return outer;
}

/**
 * On the printed part a patch of print is gone (the paper shows); on unprinted surfaces there is
 * nothing to miss, so the patch is a worn, smoothed area of another brightness instead.
 */
function paintMissingPrint(ctx: PaintContext): Coverage {
  const { rng, size, scale, image } = ctx;
  if (ctx.kind === "printed-pattern") {
    const paper = renderPrintedPattern(ctx.seed, size, false);
    let best: Coverage | undefined;
    let bestInk = -1;
    for (let attempt = 0; attempt < PATCH.tries && bestInk < PATCH.minInkFraction; attempt++) {
      const candidate = new Coverage(size);
      candidate.ellipse(blob(ctx, PATCH.radius, PATCH.aspect, PATCH.edge * scale, PATCH.warp, PATCH.warpCell));
      const ink = inkFraction(image, paper, candidate);
      if (ink > bestInk) {
        best = candidate;
        bestInk = ink;
      }
    }
    const coverage = best ?? new Coverage(size);
    paint(image, coverage, (_value, channel, pixel) => paper.data[pixel * paper.channels + channel]!);
    return coverage;
  }
  const coverage = new Coverage(size);
  coverage.ellipse(blob(ctx, PATCH.radius, PATCH.aspect, PATCH.edge * scale, PATCH.warp, PATCH.warpCell));
  const mean = meanUnderMask(image, coverage);
  const offset = between(rng, PATCH.offset) * (average(mean) > BRIGHT_SURFACE || rng.chance(0.5) ? -1 : 1);
  // A little grain keeps the worn patch from looking pasted on.
  const grain = grainLayer(size, size, deriveSeed(ctx.seed, ctx.kind, "patch-grain"));
  paint(image, coverage, (_value, channel, pixel) => (mean[channel] ?? 0) + offset + (grain[pixel]! - 0.5) * 2 * PATCH.grain);
  return coverage;
}

/** Share of mask pixels where the print differs clearly from bare paper. */
function inkFraction(printed: RawImage, paper: RawImage, coverage: Coverage): number {
  let inked = 0;
  let total = 0;
  for (let pixel = 0; pixel < coverage.alpha.length; pixel++) {
    if (coverage.alpha[pixel]! < MASK_THRESHOLD) continue;
    total++;
    let difference = 0;
    for (let c = 0; c < printed.channels; c++) {
      difference += Math.abs(printed.data[pixel * printed.channels + c]! - paper.data[pixel * paper.channels + c]!);
    }
    if (difference / printed.channels > PATCH.inkDifference) inked++;
  }
  return total === 0 ? 0 : inked / total;
}

/** A randomly placed, sized and turned ellipse, optionally with a ragged outline. */
function blob(
  ctx: PaintContext,
  radius: readonly [number, number],
  aspect: readonly [number, number],
  edge: number,
  warp: number,
  warpCell: number,
): EllipseShape {
  const { rng, size, scale } = ctx;
  const centre = placeCentre(ctx);
  const rx = Math.max(2, between(rng, radius) * scale);
  const shape: EllipseShape = { cx: centre.x, cy: centre.y, rx, ry: rx * between(rng, aspect), axis: rng.unitVector(), edge };
  if (warp > 0) {
    const cell = Math.max(2, warpCell * scale);
    shape.warp = { field: noiseLayer(size, size, cell, cell, seedFrom(rng)), amount: warp };
  }
  return shape;
}

function seedFrom(rng: Rng): number {
  return Math.floor(rng.next() * 0xffffffff);
}

function average(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length;
}
