import { strict as assert } from "node:assert";
import { DefectError } from "../../src/lib/errors";
import { boxToSource, computeTransform, mapToSource, pointToSource, pointToTensor, resizedSize } from "../../src/lib/image/transform";
import type { Rect, ScoreMap } from "../../src/lib/image/types";
import { inRect } from "../fixtures/images";

const source = { width: 300, height: 200 };
const tensor128 = { width: 128, height: 128 };

function close(actual: number, expected: number, tolerance = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not ${expected}`);
}

/** A map of `size` that is 1 inside `hot` and 0 elsewhere. */
function squareMap(width: number, height: number, hot: Rect): ScoreMap {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = inRect(x, y, hot) ? 1 : 0;
  return { data, width, height };
}

/** Bounding box of source pixels above 0.5. */
function hotBox(map: ScoreMap): Rect | null {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      if (map.data[y * map.width + x]! > 0.5) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

describe("image transform", () => {
  describe("computeTransform", () => {
    it("stretches each axis independently", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "stretch" });
      assert.deepEqual(t, {
        source,
        roi: { x: 0, y: 0, width: 300, height: 200 },
        scaleX: 128 / 300,
        scaleY: 0.64,
        offsetX: 0,
        offsetY: 0,
        width: 128,
        height: 128,
      });
    });

    it("letterboxes with the smaller scale and centres the padding", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "letterbox" });
      // s = 128/300; 200 * s = 85.33 -> 85 rows; (128 - 85) / 2 = 21.5 -> 21 rows of padding on top.
      assert.deepEqual([t.scaleX, t.scaleY, t.offsetX, t.offsetY], [128 / 300, 85 / 200, 0, 21]);
      assert.deepEqual(resizedSize(t), { width: 128, height: 85 });
    });

    it("center-crops with the larger scale and a negative offset", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "center-crop" });
      // s = 0.64: 192 x 128, cropping (192 - 128) / 2 = 32 columns on the left.
      assert.deepEqual([t.scaleX, t.scaleY, t.offsetX, t.offsetY], [0.64, 0.64, -32, 0]);
      assert.deepEqual(resizedSize(t), { width: 192, height: 128 });
    });

    it("works on the ROI rather than the whole image", () => {
      const roi = { x: 50, y: 25, width: 200, height: 150 };
      const t = computeTransform(source, roi, { ...tensor128, resize: "letterbox" });
      assert.deepEqual([t.scaleX, t.scaleY, t.offsetX, t.offsetY], [0.64, 0.64, 0, 16]);
      assert.deepEqual(t.roi, roi);
      assert.deepEqual(pointToTensor(t, { x: 50, y: 25 }), { x: 0, y: 16 });
    });

    it("keeps at least one pixel for extreme aspect ratios", () => {
      const t = computeTransform({ width: 1, height: 1000 }, null, { width: 64, height: 64, resize: "letterbox" });
      assert.deepEqual(resizedSize(t), { width: 1, height: 64 });
      assert.equal(t.offsetX, 31);
    });

    it("rejects an ROI outside the image or of fractional pixels", () => {
      for (const roi of [
        { x: 250, y: 0, width: 51, height: 10 },
        { x: -1, y: 0, width: 10, height: 10 },
        { x: 0, y: 0, width: 0, height: 10 },
        { x: 0.5, y: 0, width: 10, height: 10 },
      ]) {
        assert.throws(
          () => computeTransform(source, roi, { ...tensor128, resize: "stretch" }),
          (err: unknown) => {
            assert.ok(err instanceof DefectError);
            assert.equal(err.code, "invalidOption");
            assert.equal(err.details["option"], "roi");
            assert.match(err.message, /roi.*300x200/);
            return true;
          },
        );
      }
    });
  });

  describe("point and box mapping", () => {
    const t = computeTransform(source, { x: 20, y: 10, width: 200, height: 100 }, { ...tensor128, resize: "letterbox" });

    it("maps points both ways", () => {
      // s = 0.64, 128 x 64 resized, 32 rows of padding on top.
      assert.deepEqual(pointToTensor(t, { x: 20, y: 10 }), { x: 0, y: 32 });
      assert.deepEqual(pointToSource(t, { x: 128, y: 96 }), { x: 220, y: 110 });
      const p = pointToSource(t, pointToTensor(t, { x: 123.25, y: 77.5 }));
      close(p.x, 123.25);
      close(p.y, 77.5);
    });

    it("maps boxes to source pixels", () => {
      assert.deepEqual(boxToSource(t, { x: 32, y: 48, width: 64, height: 16 }), { x: 70, y: 35, width: 100, height: 25 });
    });

    it("clips boxes that reach into the padding to the ROI", () => {
      assert.deepEqual(boxToSource(t, { x: -10, y: 0, width: 200, height: 40 }), { x: 20, y: 10, width: 200, height: 12.5 });
      assert.deepEqual(boxToSource(t, { x: 0, y: 0, width: 128, height: 20 }).height, 0);
    });
  });

  describe("mapToSource", () => {
    it("puts a hot square of a tensor-sized map where it came from", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "letterbox" });
      // Source box 75..150 x 40..120 is tensor 32..64 x 38..72 (y: 40 * 0.425 + 21 = 38).
      const out = mapToSource(t, squareMap(128, 128, { x: 32, y: 38, width: 32, height: 34 }));
      assert.deepEqual([out.width, out.height], [300, 200]);
      assert.deepEqual(hotBox(out), { x: 75, y: 40, width: 75, height: 80 });
      assert.equal(out.data[100 * 300 + 100], 1);
      assert.equal(out.data[0], 0);
    });

    it("scales a map coarser than the tensor", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "stretch" });
      // A 32x32 map of a 128x128 tensor: map cell 8..16 is tensor 32..64, source x 75..150, y 50..100.
      const out = mapToSource(t, squareMap(32, 32, { x: 8, y: 8, width: 8, height: 8 }));
      assert.deepEqual(hotBox(out), { x: 75, y: 50, width: 75, height: 50 });
    });

    it("interpolates bilinearly between map pixel centres", () => {
      // 2x1 source stretched to a 4x1 tensor: source pixel centres sit at tensor 1 and 3.
      const t = computeTransform({ width: 2, height: 1 }, null, { width: 4, height: 1, resize: "stretch" });
      const out = mapToSource(t, { data: new Float32Array([0, 10, 20, 30]), width: 4, height: 1 });
      assert.deepEqual(Array.from(out.data), [5, 25]);
    });

    it("never samples letterbox padding", () => {
      // 4x8 source into a 4x4 letterbox: 2 columns wide at offset 1, columns 0 and 3 are padding.
      const t = computeTransform({ width: 4, height: 8 }, null, { width: 4, height: 4, resize: "letterbox" });
      const data = new Float32Array(16);
      for (let y = 0; y < 4; y++) data.set([1000, 1, 3, 1000], y * 4);
      const out = mapToSource(t, { data, width: 4, height: 4 });
      // Source columns 0 and 3 sit within half a tensor pixel of the padding: clamped, not mixed.
      for (let y = 0; y < 8; y++) assert.deepEqual(Array.from(out.data.subarray(y * 4, y * 4 + 4)), [1, 1.5, 2.5, 3]);
    });

    it("fills pixels outside the ROI", () => {
      const t = computeTransform(
        { width: 6, height: 2 },
        { x: 2, y: 0, width: 2, height: 2 },
        {
          width: 2,
          height: 2,
          resize: "stretch",
        },
      );
      const out = mapToSource(t, { data: new Float32Array([1, 2, 3, 4]), width: 2, height: 2 }, -1);
      assert.deepEqual(Array.from(out.data), [-1, -1, 1, 2, -1, -1, -1, -1, 3, 4, -1, -1]);
    });

    it("rejects a map whose data does not match its size", () => {
      const t = computeTransform(source, null, { ...tensor128, resize: "stretch" });
      assert.throws(() => mapToSource(t, { data: new Float32Array(10), width: 4, height: 4 }), DefectError);
    });
  });
});
