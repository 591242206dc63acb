/**
 * The overlay decoded back with sharp: its size, the box colour on a box outline, the heat
 * colour inside a defect and the original colour far from it, for original- and model-space
 * maps, in PNG (exact) and JPEG (within compression error).
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { DefectError } from "../../src/lib/errors";
import { computeTransform } from "../../src/lib/image/transform";
import type { MessageScoreMap, Rect, Transform } from "../../src/lib/image/types";
import { BOX_COLOUR, blendHeat, extractRegions, heatColour, overlaySize, renderOverlay, type OverlayOptions, type RegionResult } from "../../src/lib/regions";
import { encodeJpeg, encodePng, inRect, makeImage } from "../fixtures/images";

const GREY = 128;
const WIDTH = 200;
const HEIGHT = 100;
/** The defect, in original pixels. */
const DEFECT: Rect = { x: 120, y: 40, width: 40, height: 30 };
const PNG: OverlayOptions = { format: "png", width: 100, opacity: 0.5 };
/** JPEG at quality 80 stays within a few levels on flat areas away from edges. */
const JPEG_TOLERANCE = 12;

interface Decoded {
  width: number;
  height: number;
  at(x: number, y: number): number[];
}

async function decode(buffer: Buffer): Promise<Decoded> {
  const { data, info } = await sharp(buffer).raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    at: (x, y) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)),
  };
}

function near(actual: number[], expected: readonly number[], tolerance: number): void {
  assert.ok(
    actual.every((v, c) => Math.abs(v - expected[c]!) <= tolerance),
    `${actual.join(",")} is not ${expected.join(",")}`,
  );
}

/** Original-space map: 1 inside the defect, 0.1 elsewhere. */
function originalMap(): MessageScoreMap {
  const data = new Float32Array(WIDTH * HEIGHT).fill(0.1);
  for (let y = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++) if (inRect(x, y, DEFECT)) data[y * WIDTH + x] = 1;
  return { data, width: WIDTH, height: HEIGHT, space: "original" };
}

function scene(map: MessageScoreMap, transform?: Transform): RegionResult {
  return extractRegions({ map, threshold: 0.5, ...(transform === undefined ? {} : { transform }) }, { connectivity: 8, minArea: 0, maxCount: 20 });
}

/** (128,128,128) blended half-way to red: 128 + (255 - 128) / 2 = 191.5 -> 192, 128 / 2 = 64. */
const HALF_RED = [192, 64, 64];

describe("region overlay", function () {
  let image: Buffer;
  before(async function () {
    image = await encodePng(makeImage(WIDTH, HEIGHT, 3, () => GREY));
  });

  it("sizes the overlay to the configured width, keeping the aspect ratio and never upscaling", function () {
    assert.deepEqual(overlaySize({ width: 200, height: 100 }, 100), { width: 100, height: 50 });
    assert.deepEqual(overlaySize({ width: 200, height: 100 }, 480), { width: 200, height: 100 });
    assert.deepEqual(overlaySize({ width: 1000, height: 3 }, 16), { width: 16, height: 1 });
  });

  it("colours from yellow at the threshold to red at the highest score and leaves lower scores clear", function () {
    assert.deepEqual(
      [heatColour(0), heatColour(0.5), heatColour(1)],
      [
        [255, 255, 0],
        [255, 128, 0],
        [255, 0, 0],
      ],
    );
    const pixels = new Uint8Array([10, 10, 10, 10, 10, 10, 10, 10, 10]);
    blendHeat(pixels, { data: Float32Array.from([0.2, 0.5, 1]), width: 3, height: 1 }, 0.5, 1);
    assert.deepEqual(Array.from(pixels), [10, 10, 10, 255, 255, 0, 255, 0, 0]);
  });

  it("draws a PNG overlay: box outline in the box colour, heat inside, original far away", async function () {
    const result = scene(originalMap());
    assert.deepEqual(
      result.regions.map((r) => [r.x, r.y, r.width, r.height]),
      [[120, 40, 40, 30]],
    );
    const out = await decode(await renderOverlay(image, result, PNG));
    assert.deepEqual([out.width, out.height], [100, 50]);
    // The box (120, 40, 40, 30) at half size is x 60..79, y 20..34; below 240 px wide lines are 1 px.
    assert.deepEqual(out.at(60, 27), [...BOX_COLOUR]);
    assert.deepEqual(out.at(79, 27), [...BOX_COLOUR]);
    assert.deepEqual(out.at(70, 20), [...BOX_COLOUR]);
    assert.deepEqual(out.at(70, 27), HALF_RED);
    assert.deepEqual(out.at(10, 10), [GREY, GREY, GREY]);
    assert.deepEqual(out.at(95, 45), [GREY, GREY, GREY]);
  });

  it("encodes JPEG at the configured width with 2 px boxes from 240 px", async function () {
    const wide = await encodePng(makeImage(600, 300, 3, () => GREY));
    const data = new Float32Array(600 * 300);
    const defect: Rect = { x: 300, y: 120, width: 120, height: 90 };
    for (let y = 0; y < 300; y++) for (let x = 0; x < 600; x++) data[y * 600 + x] = inRect(x, y, defect) ? 1 : 0;
    const result = scene({ data, width: 600, height: 300, space: "original" });
    const buffer = await renderOverlay(wide, result, { format: "jpeg", width: 300, opacity: 0.5 });
    assert.equal((await sharp(buffer).metadata()).format, "jpeg");
    const out = await decode(buffer);
    assert.deepEqual([out.width, out.height], [300, 150]);
    // Box at half size: x 150..209, y 60..104; the outline is x 150..151.
    near(out.at(150, 80), BOX_COLOUR, JPEG_TOLERANCE * 3);
    near(out.at(180, 82), HALF_RED, JPEG_TOLERANCE);
    near(out.at(40, 40), [GREY, GREY, GREY], JPEG_TOLERANCE);
  });

  it("places a model-space map through a letterbox transform", async function () {
    // 200x100 -> 100x100 letterbox: content rows 25..74; the defect (120, 40, 40, 30) is tensor (60, 45, 20, 15).
    const t = computeTransform({ width: WIDTH, height: HEIGHT }, null, { width: 100, height: 100, resize: "letterbox" });
    const data = new Float32Array(100 * 100);
    for (let y = 0; y < 100; y++) for (let x = 0; x < 100; x++) data[y * 100 + x] = inRect(x, y, { x: 60, y: 45, width: 20, height: 15 }) || y < 10 ? 1 : 0;
    const result = scene({ data, width: 100, height: 100, space: "model" }, t);
    // The hot rows 0..9 are padding: no region, no heat.
    assert.deepEqual(
      result.regions.map((r) => [r.x, r.y, r.width, r.height]),
      [[120, 40, 40, 30]],
    );
    const out = await decode(await renderOverlay(image, result, PNG));
    assert.deepEqual(out.at(60, 27), [...BOX_COLOUR]);
    assert.deepEqual(out.at(70, 27), HALF_RED);
    assert.deepEqual(out.at(50, 2), [GREY, GREY, GREY]);
  });

  it("overlays a 16-bit gray image as RGB", async function () {
    const deep = await encodePng(makeImage(WIDTH, HEIGHT, 1, () => GREY * 257, 16));
    const out = await decode(await renderOverlay(deep, scene(originalMap()), PNG));
    assert.deepEqual(out.at(60, 27), [...BOX_COLOUR]);
    near(out.at(10, 10), [GREY, GREY, GREY], 1);
  });

  it("draws only boxes when there is no map, and nothing but the image when there are no regions", async function () {
    const mask = { data: new Uint8Array(WIDTH * HEIGHT), width: WIDTH, height: HEIGHT, space: "original" as const };
    const empty = extractRegions({ mask }, { connectivity: 8, minArea: 0, maxCount: 20 });
    const plain = await decode(await renderOverlay(await encodeJpeg(makeImage(WIDTH, HEIGHT, 3, () => GREY)), empty, PNG));
    near(plain.at(70, 27), [GREY, GREY, GREY], 2);
    mask.data[50 * WIDTH + 150] = 1;
    const boxed = await decode(await renderOverlay(image, extractRegions({ mask }, { connectivity: 8, minArea: 0, maxCount: 20 }), PNG));
    assert.deepEqual(boxed.at(75, 25), [...BOX_COLOUR]);
    assert.deepEqual(boxed.at(70, 27), [GREY, GREY, GREY]);
  });

  it("refuses an image of another size than the regions'", async function () {
    const other = await encodePng(makeImage(WIDTH + 1, HEIGHT, 3, () => GREY));
    await assert.rejects(
      renderOverlay(other, scene(originalMap()), PNG),
      (e: unknown) => e instanceof DefectError && e.code === "imageSizeMismatch" && /201x100.*200x100/.test(e.message),
    );
  });
});
