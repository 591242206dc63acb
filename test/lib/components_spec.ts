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
});
