/**
 * Gaussian random projection (Johnson-Lindenstrauss) of feature rows to a few dimensions, run
 * through onnxruntime's MatMul in chunks: projecting 200k x 1536 features is ~40 GFLOP, far too
 * slow for scalar JavaScript.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type SessionOptions } from "../../onnx";
import { Rng } from "../../random";

const CHUNK_ROWS = 8192;

/** A [dim, outDim] matrix of N(0, 1/outDim) entries from a seeded generator. */
export function gaussianMatrix(dim: number, outDim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const random = (): number => rng.next();
  const m = new Float32Array(dim * outDim);
  const scale = 1 / Math.sqrt(outDim);
  for (let i = 0; i < m.length; i += 2) {
    // Box-Muller: two normals from two uniforms.
    const u = Math.max(random(), Number.MIN_VALUE);
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    m[i] = r * Math.cos(2 * Math.PI * v) * scale;
    if (i + 1 < m.length) m[i + 1] = r * Math.sin(2 * Math.PI * v) * scale;
  }
  return m;
}

/** A projection model held open, so rows arriving image by image do not build it each time. */
export interface RowProjector {
  readonly outDim: number;
  /**
   * `count` rows of `dim` values projected to `outDim`, in chunks of CHUNK_ROWS rows. `consume`:
   * the caller drops `rows` afterwards, so their buffer may be handed to the worker (emptied)
   * instead of copied on Node-RED's thread (6 MB an image with ResNet-50 layer2+layer3).
   */
  project(rows: Float32Array, count: number, options?: { consume?: boolean }): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function openRowProjector(dim: number, outDim: number, seed: number, session?: SessionOptions): Promise<RowProjector> {
  const g = new GraphBuilder({ name: "projection" });
  const x = g.input("x", "float32", ["n", dim]);
  g.output(g.op("MatMul", [x, g.constant("p", gaussianMatrix(dim, outDim, seed), [dim, outDim])]), "y", "float32");
  const model = await acquireModelFromBytes(`projection:${dim}:${outDim}:${seed}`, g.build(), session);
  return {
    outDim,
    async project(rows, count, options = {}) {
      const out = new Float32Array(count * outDim);
      for (let start = 0; start < count; start += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, count - start);
        const chunk = rows.subarray(start * dim, (start + n) * dim);
        // A chunk that is part of the buffer travels as a compact copy anyway; only a last use of the whole buffer may move it.
        const transferFeeds = options.consume === true && start + n >= count;
        const y = (await model.run({ x: new ort.Tensor("float32", chunk, [n, dim]) }, undefined, { transferFeeds })).y as ort.Tensor;
        out.set(y.data as Float32Array, start * outDim);
      }
      return out;
    },
    release: () => model.release(),
  };
}

export async function projectRows(
  rows: Float32Array,
  count: number,
  dim: number,
  outDim: number,
  seed: number,
  session?: SessionOptions,
): Promise<Float32Array> {
  const projector = await openRowProjector(dim, outDim, seed, session);
  try {
    return await projector.project(rows, count);
  } finally {
    await projector.release();
  }
}
