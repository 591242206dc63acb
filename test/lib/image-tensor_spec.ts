import { strict as assert } from "node:assert";
import { DefectError } from "../../src/lib/errors";
import { toPaddedTensor, toTensor, type TensorOptions } from "../../src/lib/image/tensor";
import { makeImage, tensorAt } from "../fixtures/images";

const f32 = Math.fround;
/** Raw values: scale 255 with mean 0 and std 1 makes each tensor value the 8-bit pixel itself. */
const raw: TensorOptions = { color: "rgb", layout: "NCHW", scale: 255, mean: [0, 0, 0], std: [1, 1, 1] };
const imagenet: TensorOptions = {
  color: "rgb",
  layout: "NCHW",
  scale: 1,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

// 3x2 RGB image whose pixel value encodes its position: 100c + 10y + x.
const coded = makeImage(3, 2, 3, (x, y, c) => 100 * c + 10 * y + x);

function throwsCode(fn: () => unknown, code: string, option?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DefectError);
    assert.equal(err.code, code);
    if (option !== undefined) assert.equal(err.details["option"], option);
    return true;
  });
}

describe("image tensor", () => {
  it("writes NCHW planes: channel, then row, then column", () => {
    const t = toTensor(coded, raw);
    assert.deepEqual(t.dims, [1, 3, 2, 3]);
    assert.equal(t.layout, "NCHW");
    assert.deepEqual(Array.from(t.data), [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112, 200, 201, 202, 210, 211, 212]);
  });

  it("writes NHWC pixels: row, then column, then channel", () => {
    const t = toTensor(coded, { ...raw, layout: "NHWC" });
    assert.deepEqual(t.dims, [1, 2, 3, 3]);
    assert.deepEqual(Array.from(t.data.subarray(0, 6)), [0, 100, 200, 1, 101, 201]);
    assert.equal(t.data[(1 * 3 + 2) * 3 + 1], 112);
  });

  it("reverses the channels for bgr", () => {
    const t = toTensor(coded, { ...raw, color: "bgr" });
    assert.deepEqual([tensorAt(t, 2, 1, 0), tensorAt(t, 2, 1, 1), tensorAt(t, 2, 1, 2)], [212, 112, 12]);
  });

  it("applies (pixel / 255 * scale - mean) / std per channel", () => {
    const white = makeImage(1, 1, 3, () => 255);
    assert.deepEqual(Array.from(toTensor(white, imagenet).data), [f32((1 - 0.485) / 0.229), f32((1 - 0.456) / 0.224), f32((1 - 0.406) / 0.225)]);
    const black = makeImage(1, 1, 3, () => 0);
    assert.deepEqual(Array.from(toTensor(black, imagenet).data), [f32(-0.485 / 0.229), f32(-0.456 / 0.224), f32(-0.406 / 0.225)]);
    const mid = makeImage(1, 1, 3, () => 51);
    assert.deepEqual(Array.from(toTensor(mid, { ...raw, scale: 1, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }).data), [
      f32((0.2 - 0.5) / 0.5),
      f32((0.2 - 0.5) / 0.5),
      f32((0.2 - 0.5) / 0.5),
    ]);
  });

  it("scales 16-bit pixels by 65535", () => {
    const deep = makeImage(2, 1, 1, (x) => (x ? 65535 : 32768), 16);
    const t = toTensor(deep, { ...raw, color: "gray", scale: 1, mean: [0], std: [1] });
    assert.deepEqual(Array.from(t.data), [f32(32768 / 65535), 1]);
  });

  it("keeps a gray image as one channel", () => {
    const gray = makeImage(2, 2, 1, (x, y) => 10 * y + x);
    const t = toTensor(gray, { ...raw, color: "gray", mean: [1], std: [2] });
    assert.deepEqual(t.dims, [1, 1, 2, 2]);
    assert.deepEqual(Array.from(t.data), [-0.5, 0, 4.5, 5]);
  });

  it("spreads a gray image over the three rgb channels", () => {
    const gray = makeImage(1, 1, 1, () => 77);
    assert.deepEqual(Array.from(toTensor(gray, raw).data), [77, 77, 77]);
  });

  it("turns colour into gray with Rec. 601 luma weights", () => {
    const primaries = makeImage(3, 1, 3, (x, _y, c) => (x === c ? 255 : 0));
    const t = toTensor(primaries, { ...raw, color: "gray", mean: [0], std: [1] });
    assert.deepEqual(Array.from(t.data), [f32(0.299 * 255), f32(0.587 * 255), f32(0.114 * 255)]);
  });

  it("ignores an alpha channel", () => {
    const rgba = makeImage(1, 1, 4, (_x, _y, c) => [1, 2, 3, 200][c]!);
    assert.deepEqual(Array.from(toTensor(rgba, raw).data), [1, 2, 3]);
  });

  it("pads around an image placed on a larger canvas", () => {
    const img = makeImage(2, 1, 3, () => 255);
    const t = toPaddedTensor(img, { ...raw, scale: 1 }, { width: 4, height: 3, left: 1, top: 1, padValue: 114 });
    assert.deepEqual(t.dims, [1, 3, 3, 4]);
    const pad = f32(114 / 255);
    for (let c = 0; c < 3; c++) {
      const plane = Array.from(t.data.subarray(c * 12, (c + 1) * 12));
      assert.deepEqual(plane, [pad, pad, pad, pad, pad, 1, 1, pad, pad, pad, pad, pad]);
    }
  });

  it("crops an image placed partly off the canvas", () => {
    const t = toPaddedTensor(coded, raw, { width: 2, height: 1, left: -1, top: -1, padValue: 0 });
    assert.deepEqual(Array.from(t.data), [11, 12, 111, 112, 211, 212]);
  });

  it("rejects mean or std of the wrong length", () => {
    throwsCode(() => toTensor(coded, { ...raw, mean: [0] }), "invalidOption", "mean");
    throwsCode(() => toTensor(coded, { ...raw, color: "gray", mean: [0], std: [1, 1, 1] }), "invalidOption", "std");
  });

  it("rejects pixel data that does not match the stated size", () => {
    throwsCode(() => toTensor({ ...coded, width: 4 }, raw), "corruptImage");
  });
});
