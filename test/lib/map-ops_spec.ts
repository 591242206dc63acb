import { strict as assert } from "node:assert";
import { gaussianBlur, mapTopMean, upsampleNearest, upsampleNearestBlurred } from "../../src/lib/anomaly/map-ops";
import { Rng } from "../../src/lib/random";
import type { ScoreMap } from "../../src/lib/image/types";

function randomGrid(width: number, height: number, seed: number): ScoreMap {
  const rng = new Rng(seed);
  return { data: Float32Array.from({ length: width * height }, () => rng.next() * 5), width, height };
}

describe("anomaly map: nearest upsampling + Gaussian blur in one pass", () => {
  // PatchCore's map is blur(upsample(grid)); the fast path must give the same map, value for value,
  // for integer and non-integer scale factors and for grids smaller than the blur kernel.
  const cases: Array<[number, number, number, number, number]> = [
    [32, 32, 256, 256, 4],
    [28, 28, 224, 224, 4],
    [7, 5, 100, 61, 2.5],
    [3, 3, 9, 9, 4],
    [1, 1, 16, 16, 4],
    [32, 32, 32, 32, 1],
  ];
  for (const [gw, gh, w, h, sigma] of cases) {
    it(`matches blur(upsample) for a ${gw}x${gh} grid shown at ${w}x${h}, sigma ${sigma}`, () => {
      const grid = randomGrid(gw, gh, gw * 31 + w);
      const slow = gaussianBlur(upsampleNearest(grid, w, h), sigma);
      const fast = upsampleNearestBlurred(grid, w, h, sigma);
      assert.equal(fast.width, w);
      assert.equal(fast.height, h);
      let worst = 0;
      for (let i = 0; i < slow.data.length; i++) worst = Math.max(worst, Math.abs((slow.data[i] as number) - (fast.data[i] as number)));
      assert.ok(worst < 1e-5, `largest difference ${worst}`);
    });
  }

  it("without blur (sigma 0) is plain nearest upsampling", () => {
    const grid = randomGrid(4, 3, 7);
    assert.deepEqual(Array.from(upsampleNearestBlurred(grid, 8, 6, 0).data), Array.from(upsampleNearest(grid, 8, 6).data));
  });
});

describe("anomaly map: mean of its largest values (the map-top-mean image score)", () => {
  const sortedTopMean = (data: Float32Array, share: number): number => {
    const k = Math.min(data.length, Math.max(1, Math.round(data.length * share)));
    const top = Array.from(data)
      .sort((a, b) => b - a)
      .slice(0, k);
    return top.reduce((s, v) => s + v, 0) / k;
  };

  it("equals the mean of the sorted map's largest share, for maps of every size and ties", () => {
    for (const [w, h, share, seed] of [
      [256, 256, 0.01, 1],
      [31, 17, 0.05, 2],
      [10, 10, 0.01, 3],
      [1, 1, 0.01, 4],
      [64, 64, 1, 5],
    ] as const) {
      const map = randomGrid(w, h, seed);
      const expected = sortedTopMean(map.data, share);
      assert.ok(Math.abs(mapTopMean(map, share) - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${w}x${h} share ${share}`);
    }
    const ties = { data: Float32Array.from([2, 2, 2, 1, 1, 5, 5, 0, 0, 0]), width: 10, height: 1 };
    assert.equal(mapTopMean(ties, 0.3), 4);
    assert.equal(mapTopMean(ties, 0.01), 5, "at least one value");
  });

  it("counts how much of the map stands out, where the peak does not", () => {
    // Two maps with the same peak: one lone hot pixel, one hot area of 2 % of the map.
    const lone = new Float32Array(100 * 100).fill(1);
    lone[5050] = 9;
    const area = new Float32Array(100 * 100).fill(1);
    for (let i = 0; i < 200; i++) area[i * 37] = 9;
    const a = mapTopMean({ data: lone, width: 100, height: 100 }, 0.01);
    const b = mapTopMean({ data: area, width: 100, height: 100 }, 0.01);
    assert.equal(b, 9);
    assert.ok(Math.abs(a - 1.08) < 1e-9, `lone pixel: ${a}`);
  });

  it("is NaN for an empty map rather than a score", () => {
    assert.ok(Number.isNaN(mapTopMean({ data: new Float32Array(0), width: 0, height: 0 }, 0.01)));
  });
});
