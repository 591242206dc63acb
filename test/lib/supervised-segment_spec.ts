import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { DefectError, type ErrorCode } from "../../src/lib/errors";
import { computeTransform } from "../../src/lib/image/transform";
import type { Transform } from "../../src/lib/image/types";
import { GraphBuilder } from "../../src/lib/onnx/graph-builder";
import { decodeInstanceSegmentation } from "../../src/lib/supervised/segment-instance";
import { type RawOutput, decodeSemantic } from "../../src/lib/supervised/semantic";
import type { InstanceMask } from "../../src/lib/supervised/types";

const TOLERANCE = 1e-6;
/** Ultralytics' mask coefficient count. */
const MASKS = 32;
/** Tensor 64x64 with prototypes at stride 4, as YOLO-seg's 640 -> 160. */
const TENSOR = 64;
const PROTO = 16;
const STRIDE = TENSOR / PROTO;
const NC = 2;
const ANCHORS = 8;
/** Prototype value inside / outside its rectangle: logits far from 0 so edges fall mid-way between proto pixels. */
const INSIDE = 10;
const OUTSIDE = -10;
const NAMES = ["scratch", "dent"];
const SEG_OPTIONS = { nc: NC, confidence: 0.25, iou: 0.45, maxDetections: 300, names: NAMES };

interface Anchor {
  /** Box in tensor pixels. */
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  scores: number[];
  /** Mask coefficient by prototype index (others 0). */
  coefficients: Record<number, number>;
}

/** Rectangle of whole pixels [x0, x1) x [y0, y1). */
interface PixelRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A YOLOv8-seg head [1, 4+nc+32, N] (channel-first, cx cy w h), unused anchors all zero. */
function segHead(anchors: Anchor[]): RawOutput {
  const rows = 4 + NC + MASKS;
  const data = new Float32Array(rows * ANCHORS);
  anchors.forEach((a, i) => {
    const column = [(a.x1 + a.x2) / 2, (a.y1 + a.y2) / 2, a.x2 - a.x1, a.y2 - a.y1, ...a.scores];
    column.forEach((v, r) => (data[r * ANCHORS + i] = v));
    for (const [k, c] of Object.entries(a.coefficients)) data[(4 + NC + Number(k)) * ANCHORS + i] = c;
  });
  return { data, dims: [1, rows, ANCHORS] };
}

/** Prototypes [1, 32, 16, 16]: plane k is INSIDE on rects[k] (proto pixels) and OUTSIDE elsewhere; other planes 0. */
function prototypes(rects: PixelRect[]): RawOutput {
  const plane = PROTO * PROTO;
  const data = new Float32Array(MASKS * plane);
  rects.forEach((r, k) => {
    for (let y = 0; y < PROTO; y++) {
      for (let x = 0; x < PROTO; x++) {
        const inside = x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1;
        data[k * plane + y * PROTO + x] = inside ? INSIDE : OUTSIDE;
      }
    }
  });
  return { data, dims: [1, MASKS, PROTO, PROTO] };
}

/** Where a proto rectangle's logits cross 0 once upsampled: its edges times the stride, in tensor pixels. */
function protoRectInTensor(r: PixelRect): PixelRect {
  return { x0: r.x0 * STRIDE, y0: r.y0 * STRIDE, x1: r.x1 * STRIDE, y1: r.y1 * STRIDE };
}

/** Bounding rectangle and pixel count of a mask or map (pixels above 0). */
function bounds(data: ArrayLike<number>, width: number): PixelRect & { count: number } {
  let x0 = Infinity,
    y0 = Infinity,
    x1 = -Infinity,
    y1 = -Infinity,
    count = 0;
  for (let i = 0; i < data.length; i++) {
    if (!((data[i] ?? 0) > 0)) continue;
    const x = i % width;
    const y = Math.floor(i / width);
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x + 1);
    y1 = Math.max(y1, y + 1);
    count++;
  }
  return { x0, y0, x1, y1, count };
}

function area(r: PixelRect): number {
  return (r.x1 - r.x0) * (r.y1 - r.y0);
}

/**
 * A rectangle whose corners bilinear interpolation rounds off: bounds equal and every pixel set
 * except, at most, within `corner` x `corner` squares at the four corners. At a tensor corner
 * pixel, e.g. (8, 24) for proto pixels 2.. and 6.., the taps sit at proto (1.625, 5.625): row 6
 * gives -10 * 0.375 + 10 * 0.625 = 2.5, row 5 gives -10, so the logit is -10 * 0.375 + 2.5 * 0.625
 * < 0 and that pixel alone (per corner) stays out. Returns the pixel count.
 */
function assertRoundedRect(data: ArrayLike<number>, width: number, expected: PixelRect, corner: number, what: string): number {
  const b = bounds(data, width);
  assert.deepEqual({ x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 }, expected, `${what} bounds`);
  for (let y = expected.y0; y < expected.y1; y++) {
    for (let x = expected.x0; x < expected.x1; x++) {
      const nearX = x < expected.x0 + corner || x >= expected.x1 - corner;
      const nearY = y < expected.y0 + corner || y >= expected.y1 - corner;
      if (!(nearX && nearY)) assert.ok((data[y * width + x] ?? 0) > 0, `${what}: pixel (${x}, ${y}) set`);
    }
  }
  return b.count;
}

/** Tensor-resolution masks of a prototype rectangle: exactly the rectangle less its 4 corner pixels. */
function assertTensorRect(data: ArrayLike<number>, expected: PixelRect, what: string): void {
  assert.equal(assertRoundedRect(data, TENSOR, expected, 1, what), area(expected) - 4, `${what} pixel count`);
}

/** One tensor pixel is 3.125 source pixels at scale 0.32: the rounded corner spans up to 5. */
const SOURCE_CORNER = 5;

function assertClose(actual: number, expected: number, what: string, tolerance = TOLERANCE): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} != ${expected}`);
}

function assertCloseArray(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  expected.forEach((v, i) => assertClose(actual[i] ?? NaN, v, `${what}[${i}]`));
}

function expectError(fn: () => unknown, code: ErrorCode, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  });
}

/**
 * A model whose outputs are the given constants: Constant + 0 * ReduceSum(images), so the
 * outputs depend on the input as a real graph's do and onnxruntime cannot fold them away.
 */
async function runConstantModel(outputs: Record<string, RawOutput>): Promise<Record<string, RawOutput>> {
  const g = new GraphBuilder({ name: "constant-outputs" });
  const images = g.input("images", "float32", [1, 3, TENSOR, TENSOR]);
  const zero = g.op("Mul", [g.op("ReduceSum", [images], { keepdims: 0 }), g.constantFloat("zero", [0], [])]);
  for (const [name, value] of Object.entries(outputs)) {
    const constant = g.constant(`${name}_value`, value.data, value.dims);
    g.output(g.op("Add", [constant, zero]), name, "float32", value.dims);
  }
  const session = await ort.InferenceSession.create(g.build());
  try {
    const feed = new ort.Tensor("float32", new Float32Array(3 * TENSOR * TENSOR).fill(0.5), [1, 3, TENSOR, TENSOR]);
    const result = await session.run({ images: feed });
    const out: Record<string, RawOutput> = {};
    for (const name of Object.keys(outputs)) {
      const t = result[name];
      assert.ok(t, `output ${name} missing`);
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  } finally {
    await session.release();
  }
}

const RECT_A: PixelRect = { x0: 2, y0: 6, x1: 10, y1: 10 };
const RECT_B: PixelRect = { x0: 8, y0: 8, x1: 14, y1: 12 };
/** Box A wider than its mask; its lower-score twin overlaps it (same class) and must go in NMS. */
const ANCHOR_A: Anchor = { x1: 4, y1: 20, x2: 48, y2: 44, scores: [0.9, 0.1], coefficients: { 0: 1 } };
const TWIN_A: Anchor = { x1: 5, y1: 21, x2: 48, y2: 44, scores: [0.8, 0.1], coefficients: { 0: 1 } };
/** Box B cuts its mask on the right (x2 = 50.2: pixel 49 is the last whose centre is inside). */
const ANCHOR_B: Anchor = { x1: 30, y1: 28, x2: 50.2, y2: 56, scores: [0.05, 0.6], coefficients: { 1: 1 } };
const BELOW_CONFIDENCE: Anchor = { x1: 0, y1: 0, x2: 64, y2: 64, scores: [0.25, 0.2], coefficients: { 0: 1 } };

/** A box-local instance mask placed on a full width x height canvas, for whole-image assertions. */
function fullMask(m: InstanceMask, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let j = 0; j < m.height; j++) out.set(m.mask.subarray(j * m.width, (j + 1) * m.width), (m.y + j) * width + m.x);
  return out;
}

describe("supervised instance segmentation (YOLOv8/11-seg)", () => {
  const head = segHead([ANCHOR_A, TWIN_A, ANCHOR_B, BELOW_CONFIDENCE]);
  const protos = prototypes([RECT_A, RECT_B]);

  function checkTensorResult(result: ReturnType<typeof decodeInstanceSegmentation>): void {
    assert.deepEqual(
      result.boxes.map((b) => [b.name, b.class, b.score]),
      [
        ["scratch", 0, 0.8999999761581421],
        ["dent", 1, 0.6000000238418579],
      ],
    );
    assert.deepEqual(
      result.boxes.map((b) => [b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v * 1000) / 1000)),
      [
        [4, 20, 48, 44],
        [30, 28, 50.2, 56],
      ],
    );
    const [a, b] = result.masks;
    assert.ok(a && b);
    assert.equal(a.box, result.boxes[0]);
    // Masks cover their box only: pixels whose centre lies in [4, 48) x [20, 44).
    assert.deepEqual([a.x, a.y, a.width, a.height, a.mask.length], [4, 20, 44, 24, 44 * 24]);
    // Mask A lies inside its box: exactly the prototype rectangle, upsampled.
    assertTensorRect(fullMask(a, TENSOR, TENSOR), protoRectInTensor(RECT_A), "mask A");
    // Mask B's rectangle (32..56 x 32..48) is cut by the box at x2 = 50.2.
    // Its right edge is a crop, not a logit edge, so those corners stay square.
    assert.equal(assertRoundedRect(fullMask(b, TENSOR, TENSOR), TENSOR, { x0: 32, y0: 32, x1: 50, y1: 48 }, 1, "mask B (cropped)"), 18 * 16 - 2);
    // The map holds the higher score where the masks overlap (32..40 x 32..40).
    const map = result.map;
    assert.deepEqual([map.width, map.height], [TENSOR, TENSOR]);
    assertClose(map.data[33 * TENSOR + 33]!, 0.9, "map in the overlap", 1e-6);
    assertClose(map.data[45 * TENSOR + 45]!, 0.6, "map in B only", 1e-6);
    assertClose(map.data[25 * TENSOR + 10]!, 0.9, "map in A only", 1e-6);
    assert.equal(map.data[45 * TENSOR + 55], 0, "map right of box B's crop");
    const covered = bounds(map.data, TENSOR);
    // Union of A (512 - 4 corners) and B (288 - 2): their 8x8 overlap lacks A's corner (39, 39)
    // and B's (32, 32), each of which the other mask covers.
    assert.equal(covered.count, area(protoRectInTensor(RECT_A)) - 4 + 18 * 16 - 2 - (8 * 8 - 2));
  }

  it("decodes boxes, masks cropped to their box and the score map from decoded arrays", () => {
    checkTensorResult(decodeInstanceSegmentation(head, protos, SEG_OPTIONS, { width: TENSOR, height: TENSOR }));
  });

  it("decodes the same from a graph's outputs run through onnxruntime", async () => {
    const out = await runConstantModel({ output0: head, output1: protos });
    assert.ok(out.output0 && out.output1);
    assert.deepEqual(out.output0.dims, [1, 4 + NC + MASKS, ANCHORS]);
    checkTensorResult(decodeInstanceSegmentation(out.output0, out.output1, SEG_OPTIONS, { width: TENSOR, height: TENSOR }));
  });

  describe("through a letterbox of a 200x100 image (scale 0.32, 16 px padding above and below)", () => {
    // Rectangle in tensor rows 24..40 and columns 8..40: source x 25..125, y (24-16)/0.32 = 25 .. 75.
    const rect: PixelRect = { x0: 2, y0: 6, x1: 10, y1: 10 };
    const transform: Transform = computeTransform({ width: 200, height: 100 }, null, { width: TENSOR, height: TENSOR, resize: "letterbox" });

    it("maps masks and boxes back to source pixels, padding removed", async () => {
      assert.deepEqual([transform.scaleX, transform.offsetX, transform.offsetY], [0.32, 0, 16]);
      const anchor: Anchor = { x1: 4, y1: 20, x2: 44, y2: 44, scores: [0.7, 0], coefficients: { 0: 1 } };
      const out = await runConstantModel({ output0: segHead([anchor]), output1: prototypes([rect]) });
      const result = decodeInstanceSegmentation(out.output0!, out.output1!, SEG_OPTIONS, { width: TENSOR, height: TENSOR }, transform);
      const [box] = result.boxes;
      assert.ok(box);
      assertCloseArray([box.x1, box.y1, box.x2, box.y2], [12.5, 12.5, 137.5, 87.5], "box in source pixels");
      const mask = result.masks[0];
      assert.ok(mask);
      assert.deepEqual([mask.x, mask.y, mask.width, mask.height, mask.mask.length], [12, 12, 125, 75, 125 * 75]);
      assertRoundedRect(fullMask(mask, 200, 100), 200, { x0: 25, y0: 25, x1: 125, y1: 75 }, SOURCE_CORNER, "source mask");
      // The map stays in tensor pixels, for the detector to map like an anomaly map.
      assertTensorRect(result.map.data, protoRectInTensor(rect), "tensor map");
    });

    it("crops source masks to the box mapped back (within 1 px), also where the box reaches into the padding", () => {
      // Tensor box x 16..64, y 0..64: source x 50..200, y clipped to the image 0..100.
      const anchor: Anchor = { x1: 16, y1: 0, x2: 64, y2: 64, scores: [0.7, 0], coefficients: { 0: 1 } };
      const result = decodeInstanceSegmentation(segHead([anchor]), prototypes([rect]), SEG_OPTIONS, { width: TENSOR, height: TENSOR }, transform);
      const [box] = result.boxes;
      assert.ok(box);
      assertCloseArray([box.x1, box.y1, box.x2, box.y2], [50, 0, 200, 100], "clipped box");
      assertRoundedRect(fullMask(result.masks[0]!, 200, 100), 200, { x0: 50, y0: 25, x1: 125, y1: 75 }, SOURCE_CORNER, "source mask cropped at x 50");
      // The left column of the source mask is the crop: full height bar the rounded right corners.
      const mask = fullMask(result.masks[0]!, 200, 100);
      for (let y = 25; y < 75; y++) assert.equal(mask[y * 200 + 50], 1, `pixel (50, ${y})`);
      assert.equal(assertRoundedRect(result.map.data, TENSOR, { x0: 16, y0: 24, x1: 40, y1: 40 }, 1, "tensor map cropped"), 24 * 16 - 2);
    });

    it("drops a box that lies wholly in the padding, mask and map included", () => {
      const inPadding: Anchor = { x1: 8, y1: 2, x2: 40, y2: 14, scores: [0.7, 0], coefficients: { 0: 1 } };
      const padRect: PixelRect = { x0: 2, y0: 0, x1: 10, y1: 4 };
      const result = decodeInstanceSegmentation(segHead([inPadding]), prototypes([padRect]), SEG_OPTIONS, { width: TENSOR, height: TENSOR }, transform);
      assert.deepEqual([result.boxes.length, result.masks.length, bounds(result.map.data, TENSOR).count], [0, 0, 0]);
    });
  });

  it("maps masks through an ROI: nothing outside it, the rest shifted by its corner", () => {
    // ROI 100x50 at (50, 20) letterboxed into 64x64: scale 0.64, 16 px padding above and below.
    const roiTransform = computeTransform(
      { width: 200, height: 100 },
      { x: 50, y: 20, width: 100, height: 50 },
      { width: TENSOR, height: TENSOR, resize: "letterbox" },
    );
    assert.deepEqual([roiTransform.scaleX, roiTransform.offsetY], [0.64, 16]);
    // Proto rect 4..8 x 8..12 = tensor 16..32 x 32..48 = ROI 25..50 x 25..50 = source 75..100 x 45..70.
    const anchor: Anchor = { x1: 0, y1: 0, x2: 64, y2: 64, scores: [0.7, 0], coefficients: { 0: 1 } };
    const result = decodeInstanceSegmentation(
      segHead([anchor]),
      prototypes([{ x0: 4, y0: 8, x1: 8, y1: 12 }]),
      SEG_OPTIONS,
      { width: TENSOR, height: TENSOR },
      roiTransform,
    );
    const [box] = result.boxes;
    assert.ok(box);
    assertCloseArray([box.x1, box.y1, box.x2, box.y2], [50, 20, 150, 70], "box clipped to the ROI");
    // One tensor pixel is 1.5625 source pixels here.
    assertRoundedRect(fullMask(result.masks[0]!, 200, 100), 200, { x0: 75, y0: 45, x1: 100, y1: 70 }, 3, "source mask");
  });

  it("gives no boxes, no masks and an all-zero map when nothing passes the confidence", () => {
    const result = decodeInstanceSegmentation(segHead([BELOW_CONFIDENCE]), protos, SEG_OPTIONS, { width: TENSOR, height: TENSOR });
    assert.deepEqual([result.boxes.length, result.masks.length, bounds(result.map.data, TENSOR).count], [0, 0, 0]);
  });

  it("keeps at most maxDetections instances, best first", () => {
    const result = decodeInstanceSegmentation(head, protos, { ...SEG_OPTIONS, maxDetections: 1 }, { width: TENSOR, height: TENSOR });
    assert.deepEqual(
      result.boxes.map((b) => b.name),
      ["scratch"],
    );
    assertTensorRect(result.map.data, protoRectInTensor(RECT_A), "map of the one instance");
  });

  it("rejects prototypes of the wrong shape and heads that do not match them", () => {
    expectError(
      () => decodeInstanceSegmentation(head, { data: new Float32Array(16), dims: [1, 16] }, SEG_OPTIONS, { width: TENSOR, height: TENSOR }),
      "inferenceFailed",
      "YOLO-seg prototype output must be [1, masks, h, w] with masks*h*w values, got [1,16] holding 16 values",
    );
    expectError(
      () => decodeInstanceSegmentation(head, { data: new Float32Array(16 * 4), dims: [1, 16, 2, 2] }, SEG_OPTIONS, { width: TENSOR, height: TENSOR }),
      "inferenceFailed",
      "YOLOv8 output [1,38,8] has 38 values per box, expected 22",
    );
  });
});

describe("supervised semantic segmentation", () => {
  const NAMES3 = ["good", "scratch", "dent"];
  const SIZE = { width: 2, height: 2 };
  /** [1, 3, 2, 2] logits, planar. Softmax per pixel: (.2,.6,.2), (.8,.1,.1), (.25,.25,.5), (1/3,1/3,1/3). */
  const LOGITS: RawOutput = {
    data: Float32Array.from([0, Math.log(8), 0, 1000, Math.log(3), 0, 0, 1000, 0, 0, Math.log(2), 1000]),
    dims: [1, 3, 2, 2],
  };

  it("softmaxes logits: map = 1 - p(background), classes = per-class max probability, best first", async () => {
    const out = await runConstantModel({ logits: LOGITS });
    const result = decodeSemantic(out.logits!, { names: NAMES3, backgroundClass: 0 }, SIZE);
    assertCloseArray(result.map.data, [0.8, 0.2, 0.75, 2 / 3], "map");
    assert.deepEqual([result.map.width, result.map.height], [2, 2]);
    assert.deepEqual(
      result.classes.map((c) => [c.class, c.name]),
      [
        [1, "scratch"],
        [2, "dent"],
      ],
    );
    assertCloseArray(
      result.classes.map((c) => c.score),
      [0.6, 0.5],
      "class scores",
    );
    assertClose(result.score, 0.8, "score");
  });

  it("takes the background from backgroundClass", () => {
    const result = decodeSemantic(LOGITS, { names: NAMES3, backgroundClass: 2 }, SIZE);
    assertCloseArray(result.map.data, [0.8, 0.9, 0.5, 2 / 3], "map");
    assert.deepEqual(
      result.classes.map((c) => c.name),
      ["good", "scratch"],
    );
    assertCloseArray(
      result.classes.map((c) => c.score),
      [0.8, 0.6],
      "class scores",
    );
  });

  it("uses probabilities as they are when every pixel already sums to 1", () => {
    const probabilities: RawOutput = {
      data: Float32Array.from([0.7, 0.1, 0.5, 1, 0.2, 0.6, 0.25, 0, 0.1, 0.3, 0.25, 0]),
      dims: [1, 3, 2, 2],
    };
    const result = decodeSemantic(probabilities, { names: [], backgroundClass: 0 }, SIZE);
    assertCloseArray(result.map.data, [0.3, 0.9, 0.5, 0], "map");
    assert.deepEqual(
      result.classes.map((c) => [c.name, Math.round(c.score * 1e6) / 1e6]),
      [
        ["class 1", 0.6],
        ["class 2", 0.3],
      ],
    );
  });

  it("reads one channel as a defect probability, with a sigmoid only when values leave [0, 1]", () => {
    const probability = decodeSemantic({ data: Float32Array.from([0, 0.25, 0.5, 1]), dims: [1, 1, 2, 2] }, { names: ["crack"], backgroundClass: 0 }, SIZE);
    assertCloseArray(probability.map.data, [0, 0.25, 0.5, 1], "probability map");
    assert.deepEqual(probability.classes, [{ class: 0, name: "crack", score: 1 }]);
    const logits = decodeSemantic({ data: Float32Array.from([-2, 0, 2, Math.log(3)]), dims: [1, 1, 2, 2] }, { names: [], backgroundClass: 0 }, SIZE);
    assertCloseArray(logits.map.data, [1 / (1 + Math.exp(2)), 0.5, 1 / (1 + Math.exp(-2)), 0.75], "sigmoid map");
    assertClose(logits.score, 1 / (1 + Math.exp(-2)), "score");
  });

  it("resizes a map of another size to the tensor (bilinear, half-pixel centres)", () => {
    const result = decodeSemantic({ data: Float32Array.from([0, 1, 0, 1]), dims: [1, 1, 2, 2] }, { names: [], backgroundClass: 0 }, { width: 4, height: 3 });
    assert.deepEqual([result.map.width, result.map.height], [4, 3]);
    const row = [0, 0.25, 0.75, 1];
    assertCloseArray(result.map.data, [...row, ...row, ...row], "upsampled map");
    assert.equal(result.score, 1);
  });

  it("rejects outputs that are not [1, C, H, W] and a background channel the output lacks", () => {
    expectError(
      () => decodeSemantic({ data: new Float32Array(8), dims: [1, 2, 4] }, { names: [], backgroundClass: 0 }, SIZE),
      "inferenceFailed",
      "Semantic segmentation output must be [1, C, H, W] with C*H*W values, got [1,2,4] holding 8 values",
    );
    expectError(
      () => decodeSemantic(LOGITS, { names: [], backgroundClass: 3 }, SIZE),
      "invalidOption",
      'Option "backgroundClass" (3) must be a channel of the 3-channel segmentation output (0..2).',
    );
  });
});
