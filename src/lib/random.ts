/**
 * Seeded randomness for the synthetic images. Only 32-bit integer mixing and exactly rounded
 * float operations (+, -, *, /, sqrt, floor) are used, so a seed gives the same bytes on every
 * machine and Node version; trigonometry and Math.random are avoided on purpose.
 */

const UINT32_RANGE = 4294967296;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const MULBERRY_INCREMENT = 0x6d2b79f5;
const HASH_PRIME_X = 0x27d4eb2d;
const HASH_PRIME_Y = 0x165667b1;

/** MurmurHash3's finaliser: spreads every input bit over the whole 32-bit result. */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashString(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * A seed for one named part of the output (a kind, a folder, an image index). Labels rather than
 * running counters keep each image's seed stable when other kinds or folders are added.
 */
export function deriveSeed(seed: number, ...labels: Array<string | number>): number {
  let h = mix32(seed);
  for (const label of labels) {
    const part = typeof label === "number" ? mix32(label) : hashString(label);
    h = mix32(h ^ part ^ Math.imul(h, FNV_PRIME));
  }
  return h;
}

/** Uniform value in [0, 1) for an integer lattice point; the basis of the noise layers. */
export function hash2(x: number, y: number, seed: number): number {
  const h = mix32(mix32(seed ^ Math.imul(x | 0, HASH_PRIME_X)) ^ Math.imul(y | 0, HASH_PRIME_Y));
  return h / UINT32_RANGE;
}

export interface Vector {
  x: number;
  y: number;
}

/** Mulberry32: tiny, fast and good enough for placing shapes; not for cryptography. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + MULBERRY_INCREMENT) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / UINT32_RANGE;
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Integer in [min, max], both ends included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError("Rng.pick needs at least one item");
    return item;
  }

  /** Direction of uniform angle, drawn by rejection so no sin/cos is needed. */
  unitVector(): Vector {
    for (;;) {
      const x = this.range(-1, 1);
      const y = this.range(-1, 1);
      const length = Math.sqrt(x * x + y * y);
      if (length > 0.05 && length <= 1) return { x: x / length, y: y / length };
    }
  }
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

export function clampByte(value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
}

export function normalize(v: Vector): Vector {
  const length = Math.sqrt(v.x * v.x + v.y * v.y);
  return length === 0 ? { x: 1, y: 0 } : { x: v.x / length, y: v.y / length };
}
