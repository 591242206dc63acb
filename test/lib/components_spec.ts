import assert from "node:assert/strict";
import { labelMask } from "../../src/lib/regions/components";

describe("connected components", function () {
  it("joins diagonal neighbours with 8-connectivity only", function () {
    const mask = [1, 0, 0, 1];
    assert.equal(labelMask(mask, 2, 2, 8).count, 1);
    assert.equal(labelMask(mask, 2, 2, 4).count, 2);
  });

  it("merges a U shape into one component and numbers components in raster order", function () {
    // prettier-ignore
    const mask = [
      1, 0, 1, 0, 0,
      1, 0, 1, 0, 1,
      1, 1, 1, 0, 0,
    ];
    const { labels, count } = labelMask(mask, 5, 3);
    assert.equal(count, 2);
    assert.deepEqual(Array.from(labels), [1, 0, 1, 0, 0, 1, 0, 1, 0, 2, 1, 1, 1, 0, 0]);
  });

  it("handles an empty mask", function () {
    const { count, labels } = labelMask(new Uint8Array(6), 3, 2);
    assert.equal(count, 0);
    assert.ok(labels.every((l) => l === 0));
  });

  it("labels thousands of separate spots, and a comb whose teeth meet only at its last row", function () {
    // Isolated pixels two apart: 40 x 40 = 1,600 components, each its own label in raster order.
    const width = 80;
    const spots = new Uint8Array(width * width);
    for (let y = 0; y < width; y += 2) for (let x = 0; x < width; x += 2) spots[y * width + x] = 1;
    const separate = labelMask(spots, width, width, 8);
    assert.equal(separate.count, 1600);
    assert.equal(separate.labels[0], 1);
    assert.equal(separate.labels[(width - 2) * width + width - 2], 1600);
    // 1,500 teeth each start a provisional label; the bottom row joins them into one component.
    const combWidth = 3000;
    const comb = new Uint8Array(combWidth * 3);
    for (let x = 0; x < combWidth; x += 2) comb[x] = comb[combWidth + x] = 1;
    comb.fill(1, 2 * combWidth);
    const joined = labelMask(comb, combWidth, 3, 4);
    assert.equal(joined.count, 1);
    assert.equal(joined.labels.filter((l) => l === 1).length, 1500 * 2 + combWidth);
  });
});
