import { strict as assert } from "node:assert";
import { gaussianBlur, upsampleNearest, upsampleNearestBlurred } from "../../src/lib/anomaly/map-ops";
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
