/**
 * Value-noise layers built from the integer hash in random.ts. A whole layer is computed at once
 * from a small lattice, which is far faster than hashing per pixel and keeps every texture
 * well inside the demo's start-up budget. Typed-array indices below are in range by construction.
 */
import { Rng, hash2, mix32 } from "../../lib/random";

/** Octaves halve the cell size and the amplitude, the usual fractal-noise recipe. */
const OCTAVE_CELL_FACTOR = 0.5;
const OCTAVE_GAIN = 0.5;

/** Smooth value noise in [0, 1) with lattice cells of `cellX` x `cellY` pixels (anisotropic when they differ). */
export function noiseLayer(width: number, height: number, cellX: number, cellY: number, seed: number): Float32Array {
  const latticeWidth = Math.floor((width - 1) / cellX) + 2;
  const latticeHeight = Math.floor((height - 1) / cellY) + 2;
  const lattice = new Float32Array(latticeWidth * latticeHeight);
  for (let j = 0; j < latticeHeight; j++) {
    for (let i = 0; i < latticeWidth; i++) lattice[j * latticeWidth + i] = hash2(i, j, seed);
  }

  const columnCell = new Int32Array(width);
  const columnWeight = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const position = x / cellX;
    const cell = Math.floor(position);
    columnCell[x] = cell;
    columnWeight[x] = smoothWeight(position - cell);
  }

  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const position = y / cellY;
    const cell = Math.floor(position);
    const rowWeight = smoothWeight(position - cell);
    const top = cell * latticeWidth;
    const bottom = top + latticeWidth;
    const rowStart = y * width;
    for (let x = 0; x < width; x++) {
      const i = columnCell[x]!;
      const w = columnWeight[x]!;
      const a = lattice[top + i]!;
      const b = lattice[bottom + i]!;
      const upper = a + (lattice[top + i + 1]! - a) * w;
      const lower = b + (lattice[bottom + i + 1]! - b) * w;
      out[rowStart + x] = upper + (lower - upper) * rowWeight;
    }
  }
  return out;
}

/** Fractal noise in [0, 1): `octaves` layers, each with half the cell size and half the weight of the last. */
export function fractalNoise(width: number, height: number, cellX: number, cellY: number, octaves: number, seed: number): Float32Array {
  const out = new Float32Array(width * height);
  let amplitude = 1;
  let total = 0;
  let cx = cellX;
  let cy = cellY;
  for (let octave = 0; octave < octaves; octave++) {
    const layer = noiseLayer(width, height, cx, cy, mix32(seed + octave));
    for (let p = 0; p < out.length; p++) out[p] = out[p]! + layer[p]! * amplitude;
    total += amplitude;
    amplitude *= OCTAVE_GAIN;
    cx *= OCTAVE_CELL_FACTOR;
    cy *= OCTAVE_CELL_FACTOR;
  }
  for (let p = 0; p < out.length; p++) out[p] = out[p]! / total;
  return out;
}

/** Independent uniform value per pixel in [0, 1): sensor-like grain. */
export function grainLayer(width: number, height: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(width * height);
  for (let p = 0; p < out.length; p++) out[p] = rng.next();
  return out;
}

function smoothWeight(t: number): number {
  return t * t * (3 - 2 * t);
}
