import assert from "node:assert/strict";
import { greedyCoreset } from "../../src/lib/anomaly/patchcore/coreset";
import { greedyCoresetInRounds } from "../../src/lib/anomaly/patchcore/coreset-rounds";
import { RowBlockWriter, rowOf, singleBlock } from "../../src/lib/anomaly/patchcore/row-blocks";
import { Rng } from "../../src/lib/random";

/** The textbook greedy k-center loop, as the reference the pruned version must reproduce. */
function naiveCoreset(points: Float32Array, count: number, dim: number, k: number, start: number): number[] {
  const minD = new Float64Array(count).fill(Number.POSITIVE_INFINITY);
  const chosen: number[] = [];
  let next = start;
  for (let t = 0; t < k; t++) {
    chosen.push(next);
    let best = -1;
    for (let p = 0; p < count; p++) {
      let s = 0;
      for (let c = 0; c < dim; c++) {
        const d = (points[p * dim + c] as number) - (points[next * dim + c] as number);
        s += d * d;
      }
      const d = Math.sqrt(s);
      if (d < (minD[p] as number)) minD[p] = d;
      if ((minD[p] as number) > best) {
        best = minD[p] as number;
      }
    }
    let arg = 0;
    for (let p = 0; p < count; p++) if ((minD[p] as number) > (minD[arg] as number)) arg = p;
    next = arg;
  }
  return chosen;
}

function clusteredPoints(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = Array.from({ length: 12 }, () => Array.from({ length: dim }, () => rng.range(-5, 5)));
  const data = new Float32Array(count * dim);
  for (let p = 0; p < count; p++) {
    const c = centres[p % centres.length] as number[];
    for (let j = 0; j < dim; j++) data[p * dim + j] = (c[j] as number) + rng.range(-1, 1) * (1 + (p % 3));
  }
  return data;
}

describe("PatchCore greedy coreset", function () {
  it("selects exactly what the textbook greedy k-center loop selects", function () {
    for (const [count, dim, k] of [
      [500, 8, 60],
      [1200, 40, 150],
      [300, 3, 300],
    ] as const) {
      const points = clusteredPoints(count, dim, count + dim);
      const fast = greedyCoreset(points, count, dim, k, 7);
      assert.deepEqual(Array.from(fast.indices), naiveCoreset(points, count, dim, k, 7), `${count}x${dim} k=${k}`);
    }
  });

  it("reports shrinking coverage radii and caps k at the number of points", function () {
    const points = clusteredPoints(200, 4, 3);
    const { indices, radii } = greedyCoreset(points, 200, 4, 500);
    assert.equal(indices.length, 200);
    assert.equal(new Set(indices).size, 200, "no point chosen twice");
    for (let i = 1; i < radii.length; i++) assert.ok((radii[i] as number) <= (radii[i - 1] as number) + 1e-6);
    assert.equal(radii[radii.length - 1], 0, "every point is a center: radius 0");
  });
});

describe("PatchCore coreset in rounds (onnxruntime)", function () {
  it("selects the same points in the same order as the one-at-a-time greedy loop", async function () {
    for (const [count, dim, k] of [
      [3000, 16, 300],
      [800, 5, 700],
    ] as const) {
      const points = clusteredPoints(count, dim, count * 3 + dim);
      const reference = greedyCoreset(points, count, dim, k, 11);
      const rounds = await greedyCoresetInRounds(singleBlock(points, count, dim), k, 11);
      assert.deepEqual(Array.from(rounds.indices), Array.from(reference.indices), `${count}x${dim} k=${k}`);
      for (let i = 0; i < k; i++) assert.ok(Math.abs((rounds.radii[i] as number) - (reference.radii[i] as number)) < 1e-3);
    }
  });

  it("selects the same points from rows held in many blocks, appended image by image", async function () {
    const count = 3000;
    const dim = 16;
    const points = clusteredPoints(count, dim, 77);
    // Blocks of 700 rows, filled by appends of 256 rows: blocks and appends do not line up.
    const writer = new RowBlockWriter(dim, 700);
    for (let start = 0; start < count; start += 256) writer.append(points.subarray(start * dim, Math.min(count, start + 256) * dim));
    const blocks = writer.finish();
    assert.equal(blocks.count, count);
    assert.equal(blocks.blocks.length, 5);
    for (const r of [0, 699, 700, 2999]) assert.deepEqual(Array.from(rowOf(blocks, r)), Array.from(points.subarray(r * dim, r * dim + dim)));
    const whole = await greedyCoresetInRounds(singleBlock(points, count, dim), 250, 3);
    const split = await greedyCoresetInRounds(blocks, 250, 3);
    assert.deepEqual(Array.from(split.indices), Array.from(whole.indices));
  });
});
