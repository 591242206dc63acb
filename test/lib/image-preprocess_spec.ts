import { strict as assert } from "node:assert";
import { DefectError } from "../../src/lib/errors";
import { DEFAULT_MAX_PIXELS } from "../../src/lib/image/decode";
import { DEFAULT_PREPROCESS_OPTIONS } from "../../src/lib/image/options";
import { preprocessImage } from "../../src/lib/image/preprocess";
import { boxToSource, mapToSource } from "../../src/lib/image/transform";
import type { PreprocessOptions, Rect, Tensor } from "../../src/lib/image/types";
import { boxImage, encodeJpeg, encodePng, inRect, makeImage, noiseImage, tensorAt, tensorBox } from "../fixtures/images";

const limits = { maxPixels: DEFAULT_MAX_PIXELS };
const f32 = Math.fround;
/** scale 255, mean 0, std 1: tensor values are the 8-bit pixel values themselves. */
const rawValues: PreprocessOptions = { ...DEFAULT_PREPROCESS_OPTIONS, scale: 255 };

function options(overrides: Partial<PreprocessOptions>): PreprocessOptions {
  return { ...rawValues, ...overrides };
}

function rgbAt(t: Tensor, x: number, y: number): number[] {
  return [0, 1, 2].map((c) => tensorAt(t, x, y, c));
}

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof DefectError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function assertWithin(actual: Rect, expected: Rect, tolerance: number): void {
  const edges = (r: Rect) => [r.x, r.y, r.x + r.width, r.y + r.height];
  const a = edges(actual);
  const message = `${JSON.stringify(actual)} is not within ${tolerance} px of ${JSON.stringify(expected)}`;
  edges(expected).forEach((e, i) => assert.ok(Math.abs(a[i]! - e) <= tolerance, message));
}

const QUADRANTS = [
  [10, 20, 30],
  [40, 50, 60],
  [70, 80, 90],
  [100, 110, 120],
] as const;
const quadrants = makeImage(8, 8, 3, (x, y, c) => QUADRANTS[(y < 4 ? 0 : 2) + (x < 4 ? 0 : 1)]![c]!);

describe("image preprocess", () => {
  it("stretches with the nearest kernel to exact pixel values", async () => {
    const { tensor, transform } = await preprocessImage(
      await encodePng(quadrants),
      options({
        width: 4,
        height: 4,
        kernel: "nearest",
      }),
      limits,
    );
    assert.deepEqual(tensor.dims, [1, 3, 4, 4]);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) assert.deepEqual(rgbAt(tensor, x, y), [...QUADRANTS[(y < 2 ? 0 : 2) + (x < 2 ? 0 : 1)]!]);
    }
    assert.deepEqual([transform.scaleX, transform.scaleY], [0.5, 0.5]);
  });

  it("letterboxes: the image in the middle rows, padValue above and below", async () => {
    const flat = makeImage(300, 200, 3, (_x, _y, c) => [10, 20, 30][c]!);
    const { tensor, transform } = await preprocessImage(
      await encodePng(flat),
      options({
        width: 128,
        height: 128,
        resize: "letterbox",
      }),
      limits,
    );
    // 300x200 -> 128x85 at row 21.
    assert.equal(transform.offsetY, 21);
    for (const y of [0, 20, 106, 127]) assert.deepEqual(rgbAt(tensor, 64, y), [114, 114, 114], `row ${y}`);
    for (const y of [21, 60, 105]) {
      for (const x of [0, 64, 127]) assert.deepEqual(rgbAt(tensor, x, y), [10, 20, 30], `${x},${y}`);
    }
  });

  it("pads 16-bit images with padValue / 255 too", async () => {
    const deep = makeImage(4, 2, 3, () => 65535, 16);
    const { tensor } = await preprocessImage(
      await encodePng(deep),
      options({
        width: 4,
        height: 4,
        resize: "letterbox",
        scale: 1,
        padValue: 114,
      }),
      limits,
    );
    assert.deepEqual(rgbAt(tensor, 0, 0), [f32(114 / 255), f32(114 / 255), f32(114 / 255)]);
    assert.deepEqual(rgbAt(tensor, 0, 1), [1, 1, 1]);
  });

  it("center-crops: keeps the middle of the resized image", async () => {
    // Three 100-column bands; s = 0.64 gives 192x128, of which columns 32..159 are kept,
    // i.e. source columns 50..250: tensor 0..31 red, 32..95 green, 96..127 blue.
    const bands = makeImage(300, 200, 3, (x, _y, c) => (Math.floor(x / 100) === c ? 200 : 0));
    const { tensor, transform } = await preprocessImage(
      await encodePng(bands),
      options({
        width: 128,
        height: 128,
        resize: "center-crop",
        kernel: "nearest",
      }),
      limits,
    );
    assert.equal(transform.offsetX, -32);
    const red = [200, 0, 0];
    const green = [0, 200, 0];
    const blue = [0, 0, 200];
    const expected: Array<[number, number[]]> = [
      [0, red],
      [30, red],
      [34, green],
      [94, green],
      [97, blue],
      [127, blue],
    ];
    for (const [x, colour] of expected) assert.deepEqual(rgbAt(tensor, x, 64), colour, `column ${x}`);
  });

  it("center-crops without resizing when one side already fits", async () => {
    const bands = makeImage(6, 2, 1, (x) => x * 10);
    const { tensor } = await preprocessImage(
      await encodePng(bands),
      options({
        width: 2,
        height: 2,
        resize: "center-crop",
        color: "gray",
        mean: [0],
        std: [1],
      }),
      limits,
    );
    assert.deepEqual(Array.from(tensor.data), [20, 30, 20, 30]);
  });

  it("crops the ROI before resizing", async () => {
    const img = boxImage(40, 30, { x: 10, y: 5, width: 8, height: 8 }, [200, 100, 50], [0, 0, 0]);
    const { tensor, transform } = await preprocessImage(
      await encodePng(img),
      options({
        width: 4,
        height: 4,
        roi: { x: 10, y: 5, width: 8, height: 8 },
      }),
      limits,
    );
    for (let i = 0; i < 16; i++) assert.deepEqual(rgbAt(tensor, i % 4, Math.floor(i / 4)), [200, 100, 50]);
    assert.deepEqual(transform.roi, { x: 10, y: 5, width: 8, height: 8 });
  });

  it("rejects an ROI outside the image", async () => {
    const outside = options({ roi: { x: 4, y: 4, width: 5, height: 2 } });
    await rejects(preprocessImage(await encodePng(quadrants), outside, limits), "invalidOption");
  });

  it("writes NHWC and bgr", async () => {
    const { tensor } = await preprocessImage(
      await encodePng(quadrants),
      options({
        width: 8,
        height: 8,
        layout: "NHWC",
        color: "bgr",
      }),
      limits,
    );
    assert.deepEqual(tensor.dims, [1, 8, 8, 3]);
    assert.deepEqual(Array.from(tensor.data.subarray(0, 3)), [30, 20, 10]);
    assert.deepEqual(Array.from(tensor.data.subarray((7 * 8 + 7) * 3)), [120, 110, 100]);
  });

  it("normalises with ImageNet statistics", async () => {
    const white = makeImage(2, 2, 3, () => 255);
    const { tensor } = await preprocessImage(
      await encodePng(white),
      {
        ...DEFAULT_PREPROCESS_OPTIONS,
        width: 2,
        height: 2,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
      limits,
    );
    assert.deepEqual(rgbAt(tensor, 1, 1), [f32((1 - 0.485) / 0.229), f32((1 - 0.456) / 0.224), f32((1 - 0.406) / 0.225)]);
  });

  it("keeps gray files gray and converts colour with luma weights", async () => {
    const gray = makeImage(2, 1, 1, (x) => (x ? 250 : 5));
    const grayOut: Partial<PreprocessOptions> = { color: "gray", mean: [0], std: [1] };
    const fromGray = await preprocessImage(await encodePng(gray), options({ ...grayOut, width: 2, height: 1 }), limits);
    assert.deepEqual(
      [Array.from(fromGray.tensor.data), fromGray.tensor.dims],
      [
        [5, 250],
        [1, 1, 1, 2],
      ],
    );
    const asRgb = await preprocessImage(await encodePng(gray), options({ width: 2, height: 1 }), limits);
    assert.deepEqual(Array.from(asRgb.tensor.data), [5, 250, 5, 250, 5, 250]);
    const red = makeImage(1, 1, 3, (_x, _y, c) => (c === 0 ? 200 : 0));
    const fromRed = await preprocessImage(await encodePng(red), options({ ...grayOut, width: 1, height: 1 }), limits);
    assert.deepEqual(Array.from(fromRed.tensor.data), [f32(0.299 * 200)]);
  });

  it("keeps 16-bit precision", async () => {
    const deep = makeImage(2, 1, 1, (x) => (x ? 40000 : 3), 16);
    const { tensor, info } = await preprocessImage(
      await encodePng(deep),
      options({
        width: 2,
        height: 1,
        color: "gray",
        scale: 1,
        mean: [0],
        std: [1],
      }),
      limits,
    );
    assert.equal(info.bitDepth, 16);
    assert.deepEqual(Array.from(tensor.data), [f32(3 / 65535), f32(40000 / 65535)]);
  });

  it("applies EXIF orientation before everything else", async () => {
    // Stored 5x3 with a marker at (1, 0); orientation 6 displays 3x5 with the marker at (2, 1).
    const marked = makeImage(5, 3, 3, (x, y) => (x === 1 && y === 0 ? 255 : 0));
    const { tensor, info } = await preprocessImage(await encodePng(marked, 6), options({ width: 3, height: 5 }), limits);
    assert.deepEqual([info.width, info.height, info.orientation], [3, 5, 6]);
    const hot: string[] = [];
    for (let y = 0; y < 5; y++) for (let x = 0; x < 3; x++) if (tensorAt(tensor, x, y, 0) > 128) hot.push(`${x},${y}`);
    assert.deepEqual(hot, ["2,1"]);
  });

  it("takes the ROI from the oriented image, then resizes", async () => {
    // Displayed (orientation 6) 3x5 with the marker at (2, 1); the ROI's (1, 1), doubled: 2..3.
    const marked = makeImage(5, 3, 3, (x, y) => (x === 1 && y === 0 ? 255 : 0));
    const { tensor } = await preprocessImage(
      await encodePng(marked, 6),
      options({
        width: 4,
        height: 6,
        kernel: "nearest",
        roi: { x: 1, y: 0, width: 2, height: 3 },
      }),
      limits,
    );
    const hot: string[] = [];
    for (let y = 0; y < 6; y++) for (let x = 0; x < 4; x++) if (tensorAt(tensor, x, y, 0) > 128) hot.push(`${x},${y}`);
    assert.deepEqual(hot, ["2,2", "3,2", "2,3", "3,3"]);
  });

  describe("boxes found in the tensor map back onto the source", () => {
    // The first boxes have edges on tensor pixel boundaries, so the 1-pixel tolerance checks the
    // geometry rather than rounding: an error of one tensor pixel is over 1.5 source pixels.
    const cases: Array<[string, Partial<PreprocessOptions>, Rect]> = [
      ["letterbox", { resize: "letterbox" }, { x: 75, y: 40, width: 75, height: 80 }],
      ["center-crop", { resize: "center-crop" }, { x: 100, y: 50, width: 100, height: 100 }],
      ["stretch", { resize: "stretch" }, { x: 75, y: 50, width: 75, height: 100 }],
      ["letterbox with an ROI", { resize: "letterbox", roi: { x: 50, y: 25, width: 200, height: 150 } }, { x: 100, y: 75, width: 50, height: 75 }],
      // Off the grid: the edges still come back within a pixel.
      ["letterbox, off-grid box", { resize: "letterbox" }, { x: 61, y: 33, width: 77, height: 51 }],
      ["center-crop, off-grid box", { resize: "center-crop" }, { x: 61, y: 33, width: 77, height: 51 }],
      ["stretch, off-grid box", { resize: "stretch", kernel: "cubic" }, { x: 61, y: 33, width: 77, height: 51 }],
    ];
    for (const [name, mode, drawn] of cases) {
      it(name, async () => {
        const png = await encodePng(boxImage(300, 200, drawn, [255, 255, 255], [0, 0, 0]));
        const { tensor, transform } = await preprocessImage(
          png,
          {
            ...DEFAULT_PREPROCESS_OPTIONS,
            width: 128,
            height: 128,
            ...mode,
          },
          limits,
        );
        const found = tensorBox(tensor, 0.5);
        assert.ok(found, "box not found in the tensor");
        assertWithin(boxToSource(transform, found), drawn, 1);
      });
    }

    it("letterbox upscaling an off-grid box", async () => {
      const drawn = { x: 13, y: 7, width: 31, height: 22 };
      const png = await encodePng(boxImage(100, 60, drawn, [255, 255, 255], [0, 0, 0]));
      const { tensor, transform } = await preprocessImage(
        png,
        {
          ...DEFAULT_PREPROCESS_OPTIONS,
          width: 256,
          height: 256,
          resize: "letterbox",
        },
        limits,
      );
      assertWithin(boxToSource(transform, tensorBox(tensor, 0.5)!), drawn, 1);
    });

    it("letterbox from an EXIF-rotated JPEG", async () => {
      // Stored 200x300 so that orientation 6 (90 degrees clockwise) displays 300x200 with the box.
      const drawn = { x: 61, y: 33, width: 77, height: 51 };
      const stored = makeImage(200, 300, 3, (x, y) => (inRect(299 - y, x, drawn) ? 255 : 0));
      const { tensor, transform, info } = await preprocessImage(
        await encodeJpeg(stored, 6),
        {
          ...DEFAULT_PREPROCESS_OPTIONS,
          width: 128,
          height: 128,
          resize: "letterbox",
        },
        limits,
      );
      assert.deepEqual([info.width, info.height], [300, 200]);
      assertWithin(boxToSource(transform, tensorBox(tensor, 0.5)!), drawn, 1);
    });

    it("as a score map", async () => {
      const drawn = { x: 75, y: 40, width: 75, height: 80 };
      const png = await encodePng(boxImage(300, 200, drawn, [255, 255, 255], [0, 0, 0]));
      const letterbox = { ...DEFAULT_PREPROCESS_OPTIONS, width: 128, height: 128, resize: "letterbox" } as const;
      const { tensor, transform } = await preprocessImage(png, letterbox, limits);
      const plane = tensor.data.subarray(0, 128 * 128);
      const source = mapToSource(transform, { data: Float32Array.from(plane), width: 128, height: 128 });
      let wrong = 0;
      for (let y = 0; y < 200; y++) {
        for (let x = 0; x < 300; x++) {
          const edgeDistances = [x - drawn.x, x - drawn.x - drawn.width, y - drawn.y, y - drawn.y - drawn.height];
          const nearEdge = edgeDistances.some((d) => Math.abs(d) <= 1);
          if (!nearEdge && source.data[y * 300 + x]! > 0.5 !== inRect(x, y, drawn)) wrong++;
        }
      }
      assert.equal(wrong, 0);
    });
  });

  describe("rejects bad input", () => {
    it("truncated JPEG and PNG", async () => {
      const noise = noiseImage(64, 64);
      for (const encoded of [await encodeJpeg(noise), await encodePng(noise)]) {
        const cut = encoded.subarray(0, encoded.length >> 1);
        await rejects(preprocessImage(cut, DEFAULT_PREPROCESS_OPTIONS, limits), "corruptImage");
      }
    });

    it("images above the pixel limit", async () => {
      const png = await encodePng(quadrants);
      await rejects(preprocessImage(png, DEFAULT_PREPROCESS_OPTIONS, { maxPixels: 63 }), "pixelLimit");
    });

    it("bytes that are not an image", async () => {
      await rejects(preprocessImage(Buffer.from("%not an image%"), DEFAULT_PREPROCESS_OPTIONS, limits), "notAnImage");
    });
  });
});
