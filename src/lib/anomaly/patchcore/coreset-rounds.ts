/**
 * The same greedy k-center selection as `greedyCoreset`, for large sets (200k patches and
 * more): selections are made in rounds from a pool of the currently farthest points, and the
 * distances of all points to a round's new centers are one onnxruntime matrix product.
 *
 * It stays the exact greedy order: within a round, a pool point is taken only while its
 * distance is at least the largest distance outside the pool (those can only shrink), so it is
 * the global farthest point, just as the one-at-a-time loop would take.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type SessionOptions } from "../../onnx";
import type { CoresetResult } from "./coreset";
import { rowOf, type RowBlocks } from "./row-blocks";

const ROUND_CENTERS = 64;
const POOL_FACTOR = 8;
/**
 * Points per onnxruntime run of a round's update: the run's intermediates are a few
 * [rows, ROUND_CENTERS] matrices, 4 MB each at this size instead of 50 MB for 200k points.
 */
const RUN_ROWS = 16_384;

function buildMinDistanceModel(dim: number, centers: number): Uint8Array {
  const g = new GraphBuilder({ name: "min-distance" });
  const x = g.input("points", "float32", ["n", dim]);
  const c = g.input("centers", "float32", [centers, dim]);
  const axis1 = g.constantInt64("axis1", [1]);
  const xNorm = g.op("ReduceSum", [g.op("Mul", [x, x]), axis1], { keepdims: 1 });
  const cNorm = g.op("Transpose", [g.op("ReduceSum", [g.op("Mul", [c, c]), axis1], { keepdims: 1 })], { perm: [1, 0] });
  const dot = g.op("MatMul", [x, g.op("Transpose", [c], { perm: [1, 0] })]);
  const d2 = g.op("Add", [g.op("Add", [g.op("Mul", [dot, g.constantFloat("minusTwo", [-2], [])]), xNorm]), cNorm]);
  g.output(g.op("ReduceMin", [d2], { axes: [1], keepdims: 0 }), "min", "float32");
  return g.build();
}

function squaredDistance(a: Float32Array, b: Float32Array, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const d = (a[j] as number) - (b[j] as number);
    s += d * d;
  }
  return s;
}

/** Indices of `m` largest values (unordered) and the largest value left outside them. */
function topIndices(values: Float32Array, m: number): { pool: Int32Array; outside: number } {
  if (m >= values.length) return { pool: Int32Array.from({ length: values.length }, (_, i) => i), outside: Number.NEGATIVE_INFINITY };
  // A native numeric sort of a copy finds the cut far faster than an index sort with a comparator.
  const outside = values.slice().sort()[values.length - m - 1] as number;
  const pool = new Int32Array(m);
  let n = 0;
  for (let i = 0; i < values.length && n < m; i++) if ((values[i] as number) > outside) pool[n++] = i;
  for (let i = 0; i < values.length && n < m; i++) if (values[i] === outside) pool[n++] = i;
  return { pool, outside };
}

/** `points`: the rows to select from, wherever they are held (row-blocks.ts). */
export async function greedyCoresetInRounds(points: RowBlocks, k: number, start = 0, session?: SessionOptions): Promise<CoresetResult> {
  const { count, dim } = points;
  const target = Math.min(k, count);
  const indices = new Int32Array(target);
  const radii = new Float32Array(target);
  if (target === 0) return { indices, radii };
  const model = await acquireModelFromBytes(`min-distance:${dim}:${ROUND_CENTERS}`, buildMinDistanceModel(dim, ROUND_CENTERS), session);
  try {
    const minD2 = new Float32Array(count).fill(Number.POSITIVE_INFINITY);
    const roundCenters = new Float32Array(ROUND_CENTERS * dim);
    const centersTensor = new ort.Tensor("float32", roundCenters, [ROUND_CENTERS, dim]);
    const update = async (chosen: number): Promise<void> => {
      // Pad unused slots with the last center: a duplicate cannot change a minimum.
      for (let s = chosen; s < ROUND_CENTERS; s++) roundCenters.copyWithin(s * dim, (chosen - 1) * dim, chosen * dim);
      let first = 0;
      for (const block of points.blocks) {
        const rows = block.length / dim;
        for (let from = 0; from < rows; from += RUN_ROWS) {
          const n = Math.min(RUN_ROWS, rows - from);
          const x = new ort.Tensor("float32", block.subarray(from * dim, (from + n) * dim), [n, dim]);
          const d2 = ((await model.run({ points: x, centers: centersTensor })).min as ort.Tensor).data as Float32Array;
          for (let i = 0; i < n; i++) {
            const p = first + from + i;
            const v = Math.max(0, d2[i] as number);
            if (v < (minD2[p] as number)) minD2[p] = v;
          }
        }
        first += rows;
      }
    };

    indices[0] = start;
    roundCenters.set(rowOf(points, start), 0);
    await update(1);
    let selected = 1;
    while (selected < target) {
      const { pool, outside } = topIndices(minD2, ROUND_CENTERS * POOL_FACTOR);
      const poolD2 = Float32Array.from(pool, (p) => minD2[p] as number);
      let chosen = 0;
      while (chosen < ROUND_CENTERS && selected < target) {
        let best = 0;
        for (let i = 1; i < pool.length; i++) if ((poolD2[i] as number) > (poolD2[best] as number)) best = i;
        if (chosen > 0 && (poolD2[best] as number) < outside) break;
        const point = pool[best] as number;
        radii[selected - 1] = Math.sqrt(poolD2[best] as number);
        indices[selected++] = point;
        const center = rowOf(points, point);
        roundCenters.set(center, chosen * dim);
        chosen++;
        for (let i = 0; i < pool.length; i++) {
          const d2 = squaredDistance(rowOf(points, pool[i] as number), center, dim);
          if (d2 < (poolD2[i] as number)) poolD2[i] = d2;
        }
      }
      await update(chosen);
    }
    let last = 0;
    for (let p = 0; p < count; p++) last = Math.max(last, minD2[p] as number);
    radii[target - 1] = Math.sqrt(last);
    return { indices, radii };
  } finally {
    await model.release();
  }
}
