/**
 * Defect-free ("good") parts. Every image of one kind shows the same product design; the seed
 * only adds the natural variation a camera sees between parts (texture noise, brightness,
 * a small shift), which is what an anomaly detector has to learn to accept.
 */
import { DefectError } from "../../lib/errors";
import type { RawImage } from "../../lib/image/types";
import { fractalNoise, grainLayer, noiseLayer } from "./noise";
import { renderPrintedPattern } from "./print";
import { Rng, clamp, clampByte, deriveSeed, hash2 } from "../../lib/random";

export const TEXTURE_KINDS = ["brushed-metal", "woven-fabric", "cast-surface", "printed-pattern"] as const;
export type TextureKind = (typeof TEXTURE_KINDS)[number];

export const DEFAULT_IMAGE_SIZE = 256;
/** Below this the weave and the print would be only a few pixels across. */
export const MIN_IMAGE_SIZE = 32;
/** Guards against typos such as an extra zero filling the disk. */
export const MAX_IMAGE_SIZE = 4096;
/** Sizes of features are given in pixels of a 256-pixel image and scaled from there. */
export const REFERENCE_SIZE = 256;

export function isTextureKind(value: unknown): value is TextureKind {
  return typeof value === "string" && (TEXTURE_KINDS as readonly string[]).includes(value);
}

export function assertTextureKind(value: unknown): asserts value is TextureKind {
  if (!isTextureKind(value)) {
    throw new DefectError("invalidOption", `Unknown texture kind "${String(value)}"; expected one of ${TEXTURE_KINDS.join(", ")}.`, {
      option: "kind",
      value: String(value),
      expected: TEXTURE_KINDS.join(","),
    });
  }
}

export function assertImageSize(size: unknown): asserts size is number {
  if (typeof size !== "number" || !Number.isInteger(size) || size < MIN_IMAGE_SIZE || size > MAX_IMAGE_SIZE) {
    throw new DefectError("invalidOption", `Image size must be a whole number of pixels from ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE}, got ${String(size)}.`, {
      option: "size",
      value: String(size),
      min: MIN_IMAGE_SIZE,
      max: MAX_IMAGE_SIZE,
    });
  }
}

/** Seeds are 32-bit: larger numbers would silently wrap onto smaller ones. */
export const MAX_SEED = 0xffffffff;

export function assertSeed(seed: unknown): asserts seed is number {
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new DefectError("invalidOption", `Seed must be a whole number from 0 to ${MAX_SEED}, got ${String(seed)}.`, {
      option: "seed",
      value: String(seed),
      max: MAX_SEED,
    });
  }
}

/** A square, 8-bit image of a defect-free part: gray (1 channel) for metal and casting, RGB otherwise. */
export function generateGood(kind: TextureKind, seed: number, size: number = DEFAULT_IMAGE_SIZE): RawImage {
  assertTextureKind(kind);
  assertSeed(seed);
  assertImageSize(size);
  switch (kind) {
    case "brushed-metal":
      return grayFromTerms(seed, size, kind, BRUSHED_METAL);
    case "cast-surface":
      return grayFromTerms(seed, size, kind, CAST_SURFACE);
    case "woven-fabric":
      return wovenFabric(seed, size);
    case "printed-pattern":
      return renderPrintedPattern(seed, size, true);
  }
}

/** One band of noise; cells in reference pixels, amplitude in gray levels either side of the base. */
interface NoiseTerm {
  cellX: number;
  cellY: number;
  octaves: number;
  amplitude: number;
}

interface GrayRecipe {
  base: number;
  /** Part-to-part brightness change, gray levels either side. */
  brightnessJitter: number;
  terms: NoiseTerm[];
  grain: number;
}

/** Long horizontal streaks (polishing direction) over slightly uneven lighting. */
const BRUSHED_METAL: GrayRecipe = {
  base: 150,
  brightnessJitter: 6,
  terms: [
    { cellX: 160, cellY: 1.6, octaves: 3, amplitude: 30 },
    { cellX: 48, cellY: 0.7, octaves: 1, amplitude: 10 },
    { cellX: 128, cellY: 128, octaves: 2, amplitude: 10 },
  ],
  grain: 5,
};

/** Sand-cast look: isotropic fractal noise with coarse grains on top. */
const CAST_SURFACE: GrayRecipe = {
  base: 118,
  brightnessJitter: 6,
  terms: [
    { cellX: 48, cellY: 48, octaves: 4, amplitude: 28 },
    { cellX: 5, cellY: 5, octaves: 2, amplitude: 16 },
    { cellX: 1.5, cellY: 1.5, octaves: 1, amplitude: 16 },
  ],
  grain: 8,
};

function grayFromTerms(seed: number, size: number, kind: TextureKind, recipe: GrayRecipe): RawImage {
  const rng = new Rng(deriveSeed(seed, kind));
  const scale = size / REFERENCE_SIZE;
  const values = new Float32Array(size * size).fill(recipe.base + rng.range(-1, 1) * recipe.brightnessJitter);
  recipe.terms.forEach((term, index) => {
    const layer = fractalNoise(size, size, term.cellX * scale, term.cellY * scale, term.octaves, deriveSeed(seed, kind, index));
    const gain = 2 * term.amplitude;
    for (let p = 0; p < values.length; p++) values[p] = values[p]! + (layer[p]! - 0.5) * gain;
  });
  const grain = grainLayer(size, size, deriveSeed(seed, kind, "grain"));
  const data = new Uint8Array(size * size);
  for (let p = 0; p < data.length; p++) data[p] = clampByte(values[p]! + (grain[p]! - 0.5) * 2 * recipe.grain);
  return { data, width: size, height: size, channels: 1, bitDepth: 8 };
}

/** Plain weave: warp (vertical) and weft (horizontal) threads alternate over and under. */
const WEAVE = {
  /** Thread pitch in reference pixels. */
  period: 10,
  warp: [52, 78, 138],
  weft: [196, 188, 160],
  /** Brightness of a thread where it dives under its neighbour. */
  diveShade: 0.55,
  /** Shadow in the gaps between threads. */
  gapShade: 0.35,
  /** How far threads wander, in reference pixels, and over what distance. */
  wobble: 1.4,
  wobbleCell: 28,
  /** Thread-to-thread brightness spread (fraction). */
  threadJitter: 0.08,
  brightnessJitter: 0.05,
  grain: 6,
} as const;

function wovenFabric(seed: number, size: number): RawImage {
  const rng = new Rng(deriveSeed(seed, "woven-fabric"));
  const scale = size / REFERENCE_SIZE;
  const period = Math.max(4, WEAVE.period * scale);
  const wobble = WEAVE.wobble * Math.max(scale, 0.5);
  const brightness = 1 + rng.range(-1, 1) * WEAVE.brightnessJitter;
  // A fabric is not aligned to the camera: each part starts at another phase of the weave.
  const phaseX = rng.range(0, 2 * period);
  const phaseY = rng.range(0, 2 * period);
  const threadSeed = deriveSeed(seed, "woven-fabric", "threads");
  const wobbleX = noiseLayer(size, size, WEAVE.wobbleCell * scale, WEAVE.wobbleCell * scale, deriveSeed(threadSeed, 1));
  const wobbleY = noiseLayer(size, size, WEAVE.wobbleCell * scale, WEAVE.wobbleCell * scale, deriveSeed(threadSeed, 2));
  const grain = grainLayer(size, size, deriveSeed(threadSeed, 3));
  const data = new Uint8Array(size * size * 3);

  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const wx = x + phaseX + (wobbleX[p]! - 0.5) * 2 * wobble;
      const wy = y + phaseY + (wobbleY[p]! - 0.5) * 2 * wobble;
      const column = Math.floor(wx / period);
      const row = Math.floor(wy / period);
      const tx = wx / period - column;
      const ty = wy / period - row;
      const warpOnTop = ((column + row) & 1) === 0;
      // Across a thread it is brightest in the middle; along it, darker where it dives under.
      const across = warpOnTop ? tx : ty;
      const along = warpOnTop ? ty : tx;
      const roundness = 4 * across * (1 - across);
      const dive = WEAVE.diveShade + (1 - WEAVE.diveShade) * 4 * along * (1 - along);
      const shade = WEAVE.gapShade + (1 - WEAVE.gapShade) * roundness * dive;
      const threadIndex = warpOnTop ? column : row;
      const threadGain = 1 + (hash2(threadIndex, warpOnTop ? 1 : 2, threadSeed) - 0.5) * 2 * WEAVE.threadJitter;
      const colour = warpOnTop ? WEAVE.warp : WEAVE.weft;
      const noise = (grain[p]! - 0.5) * 2 * WEAVE.grain;
      const gain = clamp(shade * threadGain * brightness, 0, 2);
      for (let c = 0; c < 3; c++) data[p * 3 + c] = clampByte(colour[c]! * gain + noise);
    }
  }
  return { data, width: size, height: size, channels: 3, bitDepth: 8 };
}
