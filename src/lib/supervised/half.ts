/**
 * IEEE 754 half-precision (float16) conversion for models exported with `half=True`:
 * onnxruntime-node passes float16 tensors as Uint16Array bit patterns (Node 20 has no Float16Array).
 */

const HALF_SIGN = 0x8000;
const HALF_EXPONENT_MASK = 0x7c00;
const HALF_MANTISSA_MASK = 0x03ff;
const HALF_MANTISSA_BITS = 10;
const HALF_EXPONENT_BIAS = 15;
const HALF_MAX_EXPONENT = 0x1f;
/** Quiet-NaN mantissa bit, so a NaN stays a NaN. */
const HALF_QUIET_NAN = 0x0200;
const FLOAT_EXPONENT_BIAS = 127;
const FLOAT_MAX_EXPONENT = 0xff;
const FLOAT_MANTISSA_MASK = 0x7fffff;
const FLOAT_MANTISSA_BITS = 23;
/** The float mantissa bits a half drops (23 - 10). */
const DROPPED_BITS = FLOAT_MANTISSA_BITS - HALF_MANTISSA_BITS;
const FLOAT_IMPLICIT_ONE = 1 << FLOAT_MANTISSA_BITS;
/** Half subnormals are m x 2^-24; a float exponent below this many steps under the bias rounds to zero. */
const SMALLEST_SUBNORMAL_STEP = -HALF_MANTISSA_BITS;
const HALF_SUBNORMAL_SCALE = 2 ** -24;
const HALF_VALUES = 1 << 16;

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** Nearest half (ties to even), as numpy's astype(float16) and torch's .half() round. */
export function toHalfBits(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & HALF_SIGN;
  const exponent = (bits >>> FLOAT_MANTISSA_BITS) & FLOAT_MAX_EXPONENT;
  const mantissa = bits & FLOAT_MANTISSA_MASK;
  if (exponent === FLOAT_MAX_EXPONENT) return sign | HALF_EXPONENT_MASK | (mantissa !== 0 ? HALF_QUIET_NAN : 0);
  const halfExponent = exponent - FLOAT_EXPONENT_BIAS + HALF_EXPONENT_BIAS;
  if (halfExponent >= HALF_MAX_EXPONENT) return sign | HALF_EXPONENT_MASK;
  if (halfExponent <= 0) {
    if (halfExponent < SMALLEST_SUBNORMAL_STEP) return sign;
    const full = mantissa | FLOAT_IMPLICIT_ONE;
    const shift = DROPPED_BITS + 1 - halfExponent;
    return sign | roundShifted(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | ((halfExponent << HALF_MANTISSA_BITS) + roundShifted(mantissa, DROPPED_BITS));
}

function roundShifted(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value - kept * 2 ** shift;
  const halfway = 2 ** (shift - 1);
  return rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept;
}

export function fromHalfBits(bits: number): number {
  const sign = bits & HALF_SIGN ? -1 : 1;
  const exponent = (bits & HALF_EXPONENT_MASK) >>> HALF_MANTISSA_BITS;
  const mantissa = bits & HALF_MANTISSA_MASK;
  if (exponent === 0) return sign * mantissa * HALF_SUBNORMAL_SCALE;
  if (exponent === HALF_MAX_EXPONENT) return mantissa === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + mantissa / (1 << HALF_MANTISSA_BITS)) * 2 ** (exponent - HALF_EXPONENT_BIAS);
}

let table: Float32Array | null = null;

/** Every half value as a float, built on first use (256 KiB) so output conversion is one lookup a value. */
function halfTable(): Float32Array {
  if (table === null) {
    table = new Float32Array(HALF_VALUES);
    for (let i = 0; i < HALF_VALUES; i++) table[i] = fromHalfBits(i);
  }
  return table;
}

export function floatsToHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]!);
  return out;
}

export function halfToFloats(bits: Uint16Array): Float32Array {
  const lookup = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = lookup[bits[i]!]!;
  return out;
}

/**
 * Halves decoded into `out` from `outOffset` on, without allocating: learning rounds keep features
 * as halves and decode them a bounded chunk at a time.
 */
export function halfToFloatsInto(bits: Uint16Array, out: Float32Array, outOffset = 0): void {
  const lookup = halfTable();
  for (let i = 0; i < bits.length; i++) out[outOffset + i] = lookup[bits[i]!]!;
}
