/**
 * Regions from crafted masks: connectivity, holes, single pixels, full and empty masks, scores,
 * severity order and filters, and the way back to original pixels through stretch, letterbox
 * and ROI transforms, with every expected box computed by hand in the comments.
 */
import assert from "node:assert/strict";
import { DefectError } from "../../src/lib/errors";
import { computeTransform } from "../../src/lib/image/transform";
import type { MapSpace, Transform } from "../../src/lib/image/types";
import {
  compareSeverity,
  contentArea,
  extractRegions,
  parseRegionOptions,
  readRegionInput,
  selectRegions,
  type BinaryMask,
  type ExtractOptions,
  type Region,
  type RegionMessage,
} from "../../src/lib/regions";

const ALL: ExtractOptions = { connectivity: 8, minArea: 0, maxCount: 1000 };

/** A mask drawn as text: "#" = defect pixel, anything else = good. */
function drawn(rows: string[], space: MapSpace = "original"): BinaryMask {
  const width = rows[0]!.length;
  const data = new Uint8Array(width * rows.length);
  rows.forEach((row, y) => [...row].forEach((c, x) => (data[y * width + x] = c === "#" ? 1 : 0)));
  return { data, width, height: rows.length, space };
}

function regionsOf(mask: BinaryMask, options: Partial<ExtractOptions> = {}, transform?: Transform): Region[] {
  return extractRegions({ mask, ...(transform === undefined ? {} : { transform }) }, { ...ALL, ...options }).regions;
}

function box(r: Region): [number, number, number, number] {
  return [r.x, r.y, r.width, r.height];
}

function expectCode(code: string, fn: () => unknown, option?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, code, error.message);
    if (option !== undefined) assert.equal(error.details["option"], option);
    return true;
  });
}

describe("regions", function () {
  describe("on crafted masks", function () {
    it("joins diagonal neighbours under 8-connectivity and separates them under 4", function () {
      const mask = drawn(["#..", ".#.", "..#"]);
      const eight = regionsOf(mask, { connectivity: 8 });
      assert.equal(eight.length, 1);
      assert.deepEqual(box(eight[0]!), [0, 0, 3, 3]);
      assert.equal(eight[0]!.area, 3);
      const four = regionsOf(mask, { connectivity: 4 });
      assert.deepEqual(four.map(box), [
        [0, 0, 1, 1],
        [1, 1, 1, 1],
        [2, 2, 1, 1],
      ]);
    });

    it("reports a ring as one region whose area excludes the hole and whose centroid is the centre", function () {
      const [ring] = regionsOf(drawn([".......", ".#####.", ".#...#.", ".#...#.", ".#...#.", ".#####.", "......."]));
      // 5x5 square minus its 3x3 hole = 16 pixels; centre pixel (3, 3) has its centre at 3.5.
      assert.deepEqual(ring, { x: 1, y: 1, width: 5, height: 5, area: 16, centroid: { x: 3.5, y: 3.5 }, maxScore: null, meanScore: null });
    });

    it("keeps one-pixel regions, each a 1x1 box centred on its pixel", function () {
      const regions = regionsOf(drawn(["#...", "..#.", "...#"]), { connectivity: 4 });
      assert.deepEqual(
        regions.map((r) => [...box(r), r.area, r.centroid.x, r.centroid.y]),
        [
          [0, 0, 1, 1, 1, 0.5, 0.5],
          [2, 1, 1, 1, 1, 2.5, 1.5],
          [3, 2, 1, 1, 1, 3.5, 2.5],
        ],
      );
    });

    it("reports a full mask as one region covering the image and an empty mask as none", function () {
      const [full] = regionsOf(drawn(["####", "####", "####"]));
      assert.deepEqual([...box(full!), full!.area, full!.centroid.x, full!.centroid.y], [0, 0, 4, 3, 12, 2, 1.5]);
      assert.deepEqual(regionsOf(drawn(["....", "...."])), []);
    });

    it("takes max and mean score of each region from the map", function () {
      const mask = drawn(["##..", "...#"]);
      const map = { data: Float32Array.from([0.5, 0.75, 0.1, 0.2, 0, 0, 0, 2]), width: 4, height: 2, space: "original" as const };
      const regions = extractRegions({ mask, map }, ALL).regions;
      assert.deepEqual(
        regions.map((r) => [r.maxScore, r.meanScore, r.area]),
        [
          [2, 2, 1],
          [0.75, 0.625, 2],
        ],
      );
    });

    it("thresholds the map itself when there is no mask (a score equal to the threshold counts)", function () {
      const map = { data: Float32Array.from([0.5, 0.2, 0.7, 0.49, 0.1, 0.9]), width: 3, height: 2, space: "original" as const };
      const result = extractRegions({ map, threshold: 0.5 }, { ...ALL, connectivity: 4 });
      assert.deepEqual(
        result.regions.map((r) => [...box(r), r.maxScore]),
        [
          [2, 0, 1, 2, Math.fround(0.9)],
          [0, 0, 1, 1, 0.5],
        ],
      );
      assert.equal(result.heatStart, 0.5);
    });
  });

  describe("order and filters", function () {
    const region = (maxScore: number | null, area: number): Region => ({
      x: 0,
      y: 0,
      width: 1,
      height: 1,
      area,
      centroid: { x: 0.5, y: 0.5 },
      maxScore,
      meanScore: maxScore,
    });

    it("sorts by max score, then area, and puts regions without scores last", function () {
      const sorted = [region(null, 50), region(1, 2), region(3, 1), region(1, 9)].sort(compareSeverity);
      assert.deepEqual(
        sorted.map((r) => [r.maxScore, r.area]),
        [
          [3, 1],
          [1, 9],
          [1, 2],
          [null, 50],
        ],
      );
    });

    it("drops regions below minArea before keeping the maxCount most severe", function () {
      const kept = selectRegions([region(9, 4), region(5, 10), region(7, 12), region(6, 11)], { minArea: 10, maxCount: 2 });
      assert.deepEqual(
        kept.map((r) => r.maxScore),
        [7, 6],
      );
    });

    it("counts the components found before filtering", function () {
      const result = extractRegions({ mask: drawn(["#.##", "....", "####"]) }, { ...ALL, minArea: 2, maxCount: 1 });
      assert.equal(result.found, 3);
      assert.deepEqual(result.regions.map(box), [[0, 2, 4, 1]]);
    });
  });

  describe("back to original pixels", function () {
    it("maps a stretched model mask: box, centroid and area scaled per axis", function () {
      // 100x50 source -> 10x10 tensor: scaleX 0.1, scaleY 0.2; a tensor pixel is 10x5 source pixels.
      const t = computeTransform({ width: 100, height: 50 }, null, { width: 10, height: 10, resize: "stretch" });
      const rows = Array.from({ length: 10 }, (_, y) => (y === 4 ? "..##......" : ".........."));
      const [r] = regionsOf(drawn(rows, "model"), {}, t);
      // Tensor box (2, 4, 2, 1) -> (20, 20, 20, 5); centroid (3, 4.5) -> (30, 22.5); area 2 * 50.
      assert.deepEqual(r, { x: 20, y: 20, width: 20, height: 5, area: 100, centroid: { x: 30, y: 22.5 }, maxScore: null, meanScore: null });
    });

    it("ignores letterbox padding and clips a region reaching into it", function () {
      // 200x100 source -> 100x100 letterbox: scale 0.5, content rows 25..74, 25 rows of padding on top.
      const t = computeTransform({ width: 200, height: 100 }, null, { width: 100, height: 100, resize: "letterbox" });
      assert.equal(t.offsetY, 25);
      const data = new Uint8Array(100 * 100);
      const fill = (x0: number, y0: number, w: number, h: number): void => {
        for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data[y * 100 + x] = 1;
      };
      fill(50, 2, 5, 5); // entirely in the padding: no original pixels
      fill(10, 30, 10, 10); // content
      fill(70, 20, 10, 10); // rows 20..24 padding, 25..29 content
      const regions = regionsOf({ data, width: 100, height: 100, space: "model" }, {}, t);
      assert.equal(regions.length, 2);
      const [inside, clipped] = [...regions].sort((a, b) => a.x - b.x);
      // Tensor (10, 30, 10, 10) -> source ((10) / 0.5, (30 - 25) / 0.5, 20, 20); each tensor pixel is 4 source pixels.
      assert.deepEqual(inside, { x: 20, y: 10, width: 20, height: 20, area: 400, centroid: { x: 30, y: 20 }, maxScore: null, meanScore: null });
      // Only tensor rows 25..29 count: source (140, 0, 20, 10), centroid tensor (75, 27.5) -> (150, 5).
      assert.deepEqual(clipped, { x: 140, y: 0, width: 20, height: 10, area: 200, centroid: { x: 150, y: 5 }, maxScore: null, meanScore: null });
    });

    it("maps a map coarser than the tensor, and a ROI offset", function () {
      // ROI (100, 50, 100, 100) of a 300x200 source -> 50x50 tensor (scale 0.5); a 25x25 map covers it (2 tensor px a cell).
      const t = computeTransform({ width: 300, height: 200 }, { x: 100, y: 50, width: 100, height: 100 }, { width: 50, height: 50, resize: "stretch" });
      const data = new Float32Array(25 * 25);
      data[5 * 25 + 5] = 0.9;
      data[5 * 25 + 6] = 0.8;
      const map = { data, width: 25, height: 25, space: "model" as const };
      const [r] = extractRegions({ map, threshold: 0.5, transform: t }, ALL).regions;
      // Cells x 5..6, y 5 -> tensor (10, 10, 4, 2) -> source (100 + 20, 50 + 20, 8, 4); area 2 cells * 4 tensor px * 4.
      assert.deepEqual(box(r!), [120, 70, 8, 4]);
      assert.equal(r!.area, 32);
      assert.deepEqual(r!.centroid, { x: 124, y: 72 });
      assert.equal(r!.maxScore, Math.fround(0.9));
      assert.ok(Math.abs(r!.meanScore! - 0.85) < 1e-6);
    });

    it("rounds mapped coordinates to 1/1000 pixel", function () {
      // 300 -> 128 stretch: 1 tensor pixel is 2.34375 source pixels.
      const t = computeTransform({ width: 300, height: 300 }, null, { width: 128, height: 128, resize: "stretch" });
      const data = new Uint8Array(128 * 128);
      data[3 * 128 + 3] = 1;
      const [r] = regionsOf({ data, width: 128, height: 128, space: "model" }, {}, t);
      assert.deepEqual(box(r!), [7.031, 7.031, 2.344, 2.344]);
    });

    it("finds the content of a letterboxed grid at any resolution", function () {
      const t = computeTransform({ width: 200, height: 100 }, null, { width: 100, height: 100, resize: "letterbox" });
      assert.deepEqual(contentArea(t, { width: 100, height: 100 }), { x0: 0, x1: 100, y0: 25, y1: 75 });
      // Cell centres at (j + 0.5) * 10: cells 2..6 (centres 25..65) lie in the content rows 25..74.
      assert.deepEqual(contentArea(t, { width: 10, height: 10 }), { x0: 0, x1: 10, y0: 2, y1: 7 });
    });
  });

  describe("reading the message", function () {
    const mask = { data: new Uint8Array(4), width: 2, height: 2, space: "original" };

    it("accepts plain arrays and a mask without space (original pixels)", function () {
      const input = readRegionInput({ mask: { data: [0, 1, 1, 0], width: 2, height: 2 }, anomalyMap: { data: [0, 1, 1, 0], width: 2, height: 2 } });
      assert.equal(input.mask?.space, "original");
      assert.ok(input.map?.data instanceof Float32Array);
    });

    it("rejects a message with no mask and no map, or a map without a threshold", function () {
      expectCode("noMaskInput", () => readRegionInput({}));
      expectCode("noMaskInput", () => readRegionInput({ anomalyMap: { data: [0], width: 1, height: 1 }, payload: { score: 1 } }));
    });

    it("rejects a mask whose data does not match width x height", function () {
      assert.throws(() => readRegionInput({ mask: { ...mask, data: new Uint8Array(3) } }), /msg.mask data holds 3 values but 2x2 needs 4/);
      expectCode("noMaskInput", () => readRegionInput({ mask: { ...mask, space: "tensor" } }));
      expectCode("noMaskInput", () => readRegionInput({ mask: { ...mask, data: "1111" } }));
    });

    it("rejects a mask and a map of different size or space", function () {
      const map = { data: new Float32Array(6), width: 3, height: 2, space: "original" };
      assert.throws(
        () => readRegionInput({ mask, anomalyMap: map }),
        (e: unknown) => e instanceof DefectError && e.code === "maskSizeMismatch" && /2x2 \(original\).*3x2 \(original\)/.test(e.message),
      );
      expectCode("maskSizeMismatch", () => readRegionInput({ mask, anomalyMap: { ...mask, data: new Float32Array(4), space: "model" }, transform: undefined }));
    });

    it("needs a valid msg.transform for model pixels", function () {
      const model: RegionMessage = { mask: { ...mask, space: "model" } };
      expectCode("noTransformInput", () => readRegionInput(model));
      expectCode("invalidOption", () => readRegionInput({ ...model, transform: { scaleX: 1 } }), "msg.transform");
      const t = computeTransform({ width: 4, height: 4 }, null, { width: 2, height: 2, resize: "stretch" });
      assert.deepEqual(readRegionInput({ ...model, transform: t }).transform, t);
    });
  });

  describe("options", function () {
    it("defaults to 8-connectivity, 10 px, 20 regions, a 480 px JPEG overlay at half opacity", function () {
      assert.deepEqual(parseRegionOptions({}), { connectivity: 8, minArea: 10, maxCount: 20, overlay: "jpeg", overlayWidth: 480, opacity: 0.5 });
      assert.deepEqual(parseRegionOptions({ connectivity: "4", minArea: "0", maxCount: 1, overlay: "png", overlayWidth: "16", opacity: "1" }), {
        connectivity: 4,
        minArea: 0,
        maxCount: 1,
        overlay: "png",
        overlayWidth: 16,
        opacity: 1,
      });
    });

    for (const [option, value] of [
      ["minArea", "-1"],
      ["maxCount", "0"],
      ["maxCount", "2.5"],
      ["connectivity", "6"],
      ["opacity", "1.5"],
      ["opacity", "-0.1"],
      ["overlayWidth", "15"],
      ["overlayWidth", "4097"],
      ["overlay", "gif"],
    ] as const) {
      it(`rejects ${option} ${value} as invalidOption naming the option`, function () {
        expectCode("invalidOption", () => parseRegionOptions({ [option]: value }), option);
      });
    }
  });
});
