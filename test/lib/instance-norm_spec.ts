import { strict as assert } from "node:assert";
import { standardizeEmbedding, standardizeRows } from "../../src/lib/features/instance-norm";

describe("per-image feature standardisation", () => {
  it("gives every channel mean 0 and standard deviation 1 over the image's patches", () => {
    // 4 patches x 2 channels: channel 0 = 1, 2, 3, 4; channel 1 = 10, 10, 30, 30.
    const rows = Float32Array.from([1, 10, 2, 10, 3, 30, 4, 30]);
    const out = standardizeRows(rows, 4, 2);
    const sd0 = Math.sqrt(1.25);
    const expected = [-1.5 / sd0, -1, -0.5 / sd0, -1, 0.5 / sd0, 1, 1.5 / sd0, 1];
    expected.forEach((v, i) => assert.ok(Math.abs((out[i] as number) - v) < 1e-6, `value ${i}: ${out[i]} vs ${v}`));
    assert.deepEqual(Array.from(rows), [1, 10, 2, 10, 3, 30, 4, 30], "input left as it was");
  });

  it("makes a brighter or higher-contrast copy of an image identical to it, but keeps a local change", () => {
    const base = Float32Array.from({ length: 16 * 3 }, (_, i) => Math.sin(i * 1.7) * 2 + (i % 3));
    const brighter = base.map((v) => 1.8 * v + 5);
    const a = standardizeRows(base, 16, 3);
    const b = standardizeRows(brighter, 16, 3);
    a.forEach((v, i) => assert.ok(Math.abs(v - (b[i] as number)) < 1e-5));
    const spotted = base.slice();
    spotted[7 * 3] = 40; // one patch, one channel far out
    const c = standardizeRows(spotted, 16, 3);
    assert.ok((c[7 * 3] as number) > 3, `the changed patch stands out: ${c[7 * 3]}`);
  });

  it("leaves a channel that is constant over the image at 0 and refuses a wrong size", () => {
    const out = standardizeRows(Float32Array.from([5, 1, 5, 2, 5, 3]), 3, 2);
    assert.deepEqual([out[0], out[2], out[4]], [0, 0, 0]);
    assert.throws(() => standardizeRows(new Float32Array(5), 3, 2), /5 values are not 3 x 2/);
    const e = standardizeEmbedding({ data: Float32Array.from([1, 2, 3, 4]), patches: 2, dim: 2, gridWidth: 2, gridHeight: 1 });
    assert.deepEqual([e.patches, e.dim, e.gridWidth, e.gridHeight], [2, 2, 2, 1]);
    assert.deepEqual(Array.from(e.data), [-1, -1, 1, 1]);
  });
});
