/**
 * The embedded backbone's trained weights: models/embedded-v2.bin in the package, written by
 * experiments/train-embedded-backbone.py (trained only on the package's own synthetic data).
 * Little-endian float16 values, no header; the layer order is the architecture's in
 * embedded.ts. The size and checksum are recorded here so a damaged or swapped file is refused
 * instead of silently producing different features from what a saved bank was learned with.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DefectError, describeError } from "../errors";

export const EMBEDDED_WEIGHTS_FILE = "embedded-v2.bin";
const MODELS_DIR = "models";
export const EMBEDDED_WEIGHTS_BYTES = 974976;
export const EMBEDDED_WEIGHTS_SHA256 = "f118f2ec4327efedbd2105913838179db86cb3e83db4f33dd40dd5ed07aeab07";
const BYTES_PER_HALF = 2;

/**
 * models/ sits at the package root, which is a different number of folders above this module
 * in dist/ (published) and in the test build, so it is looked for upwards.
 */
export function findEmbeddedWeights(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, MODELS_DIR, EMBEDDED_WEIGHTS_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) {
      throw new DefectError(
        "modelLoadFailed",
        `the embedded backbone's weights ${MODELS_DIR}/${EMBEDDED_WEIGHTS_FILE} were not found above ${from}: reinstall the package`,
        {
          path: join(MODELS_DIR, EMBEDDED_WEIGHTS_FILE),
        },
      );
    }
  }
}

/** IEEE 754 half to single precision; exact, since every half is representable as a float. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Checks size and checksum, then widens to float32 (what the graph's Conv initializers hold). */
export function decodeEmbeddedWeights(bytes: Uint8Array, path: string): Float32Array {
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (bytes.length !== EMBEDDED_WEIGHTS_BYTES || sha256 !== EMBEDDED_WEIGHTS_SHA256) {
    throw new DefectError(
      "modelLoadFailed",
      `the embedded backbone's weights ${path} are damaged: expected ${EMBEDDED_WEIGHTS_BYTES} bytes with sha256 ${EMBEDDED_WEIGHTS_SHA256}, got ${bytes.length} bytes with sha256 ${sha256}`,
      {
        path,
        expected: EMBEDDED_WEIGHTS_SHA256,
        actual: sha256,
      },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / BYTES_PER_HALF);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(i * BYTES_PER_HALF, true));
  return out;
}

export async function readEmbeddedWeights(path: string = findEmbeddedWeights()): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new DefectError("modelLoadFailed", `cannot read the embedded backbone's weights ${path}: ${describeError(error)}`, { path }, { cause: error });
  }
  return decodeEmbeddedWeights(bytes, path);
}
