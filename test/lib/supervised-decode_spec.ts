import { strict as assert } from "node:assert";
import { isProbabilityRow, softmax, toProbabilities, topK } from "../../src/lib/supervised/classify";
import { floatsToHalf, fromHalfBits, halfToFloats, toHalfBits } from "../../src/lib/supervised/half";
import { MAX_NMS_CANDIDATES, nonMaxSuppression } from "../../src/lib/supervised/nms";
import type { Candidate } from "../../src/lib/supervised/types";
import { decodeEndToEnd, decodeYoloV5, decodeYoloV8 } from "../../src/lib/supervised/yolo-decode";
import { BACKGROUND_SCORE, type TestBox, endToEndHead, v5Head, v8Head } from "../fixtures/supervised-models";
import { isDefectError } from "../../src/lib/errors";

const NC = 3;
const ANCHORS = 10;
/** A (class 0, 0.9); B overlaps A (IoU 0.82), class 0, lower; C = B's box as class 1; D apart; E below 0.25. */
const BOXES: TestBox[] = [
  { x1: 100, y1: 100, x2: 200, y2: 200, score: 0.9, cls: 0 },
  { x1: 105, y1: 105, x2: 205, y2: 205, score: 0.8, cls: 0 },
  { x1: 105, y1: 105, x2: 205, y2: 205, score: 0.7, cls: 1 },
  { x1: 300, y1: 300, x2: 350, y2: 400, score: 0.6, cls: 2 },
  { x1: 10, y1: 10, x2: 20, y2: 20, score: 0.2, cls: 1 },
  { x1: 400, y1: 100, x2: 500, y2: 150, score: 0.85, cls: 0 },
];

function plain(c: Candidate): [number, number, number, number, number, number] {
  return [c.x1, c.y1, c.x2, c.y2, Math.round(c.score * 1e4) / 1e4, c.class];
}

function candidate(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): Candidate {
  return { x1, y1, x2, y2, score, class: cls, extra: null };
}

describe("supervised: YOLO head decoders", () => {
  it("decodes a YOLOv8 [1,4+nc,N] head without transposing: best class per anchor, boxes as corners, above the confidence", () => {
    const got = decodeYoloV8(v8Head(BOXES, NC, ANCHORS), [1, 4 + NC, ANCHORS], NC, 0, 0.25);
    assert.deepEqual(got.map(plain), [
      [100, 100, 200, 200, 0.9, 0],
      [105, 105, 205, 205, 0.8, 0],
      [105, 105, 205, 205, 0.7, 1],
      [300, 300, 350, 400, 0.6, 2],
      [400, 100, 500, 150, 0.85, 0],
    ]);
    assert.ok(got.every((c) => c.extra === null));
  });

  it("keeps the extra rows of a YOLOv8-seg head per anchor (the mask coefficients)", () => {
    const extra = 2;
    const n = 4;
    const head = v8Head(
      [
        { x1: 0, y1: 0, x2: 10, y2: 10, score: 0.5, cls: 1 },
        { x1: 5, y1: 5, x2: 9, y2: 9, score: 0.6, cls: 0 },
      ],
      NC,
      n,
    );
    const data = new Float32Array((4 + NC + extra) * n);
    data.set(head);
    // coefficient k of anchor i = 10 * (k + 1) + i
    for (let k = 0; k < extra; k++) for (let i = 0; i < n; i++) data[(4 + NC + k) * n + i] = 10 * (k + 1) + i;
    const got = decodeYoloV8(data, [1, 4 + NC + extra, n], NC, extra, 0.25);
    assert.deepEqual(
      got.map((c) => Array.from(c.extra ?? [])),
      [
        [10, 20],
        [11, 21],
      ],
    );
  });

  it("decodes a YOLOv5 [1,N,5+nc] head with score = objectness x class score", () => {
    const boxes: TestBox[] = [
      { x1: 0, y1: 0, x2: 40, y2: 20, score: 0.9, cls: 2, objectness: 0.5 },
      { x1: 50, y1: 50, x2: 60, y2: 70, score: 0.8, cls: 1, objectness: 1 },
      // 0.6 x 0.4 = 0.24: below the threshold although both factors are above it
      { x1: 1, y1: 1, x2: 2, y2: 2, score: 0.4, cls: 0, objectness: 0.6 },
      // objectness alone below: dropped early
      { x1: 1, y1: 1, x2: 2, y2: 2, score: 1, cls: 0, objectness: 0.2 },
    ];
    const got = decodeYoloV5(v5Head(boxes, NC, 6), [1, 6, 5 + NC], NC, 0, 0.25);
    assert.deepEqual(got.map(plain), [
      [0, 0, 40, 20, 0.45, 2],
      [50, 50, 60, 70, 0.8, 1],
    ]);
  });

  it("decodes an end-to-end [1,N,6] head as corners, score and class index, skipping padding rows", () => {
    const rows: TestBox[] = [
      { x1: 1, y1: 2, x2: 30, y2: 40, score: 0.95, cls: 4 },
      { x1: 5, y1: 6, x2: 7, y2: 8, score: 0.3, cls: 0 },
      { x1: 5, y1: 6, x2: 7, y2: 8, score: 0.1, cls: 0 },
    ];
    const got = decodeEndToEnd(endToEndHead(rows, 300), [1, 300, 6], 0.25);
    assert.deepEqual(got.map(plain), [
      [1, 2, 30, 40, 0.95, 4],
      [5, 6, 7, 8, 0.3, 0],
    ]);
  });

  it("rejects a head whose width does not fit the class count, naming the shape", () => {
    assert.throws(
      () => decodeYoloV8(new Float32Array(7 * 10), [1, 7, 10], 4, 0, 0.25),
      (e: unknown) => isDefectError(e) && e.code === "inferenceFailed" && e.message === "YOLOv8 output [1,7,10] has 7 values per box, expected 8",
    );
    assert.throws(
      () => decodeYoloV5(new Float32Array(12), [1, 2, 5], 1, 0, 0.25),
      (e: unknown) => isDefectError(e) && e.message === "YOLOv5 output holds 12 values, but its shape [1,2,5] needs 10",
    );
  });

  it("filters with > confidence, as Ultralytics does: a score equal to the threshold is dropped", () => {
    const got = decodeYoloV8(v8Head([{ x1: 0, y1: 0, x2: 1, y2: 1, score: 0.5, cls: 0 }], 1, 6), [1, 5, 6], 1, 0, 0.5);
    assert.equal(got.length, 0);
    assert.equal(BACKGROUND_SCORE < 0.25, true);
  });
});

describe("supervised: class-aware NMS", () => {
  const decoded = (): Candidate[] => decodeYoloV8(v8Head(BOXES, NC, ANCHORS), [1, 4 + NC, ANCHORS], NC, 0, 0.25);

  it("removes exactly the overlapping lower-score box of the same class and keeps the other class's", () => {
    const kept = nonMaxSuppression(decoded(), 0.45, 300);
    assert.deepEqual(kept.map(plain), [
      [100, 100, 200, 200, 0.9, 0],
      [400, 100, 500, 150, 0.85, 0],
      [105, 105, 205, 205, 0.7, 1],
      [300, 300, 350, 400, 0.6, 2],
    ]);
  });

  it("class-agnostic NMS lets any class suppress any other", () => {
    const kept = nonMaxSuppression(decoded(), 0.45, 300, false);
    assert.deepEqual(
      kept.map((c) => c.score).map((s) => Math.round(s * 100) / 100),
      [0.9, 0.85, 0.6],
    );
  });

  it("suppresses only when IoU is strictly above the threshold", () => {
    // IoU of [0,0,10,10] and [5,0,15,10] = 50 / 150 = 1/3.
    const pair = [candidate(0, 0, 10, 10, 0.9, 0), candidate(5, 0, 15, 10, 0.8, 0)];
    assert.equal(nonMaxSuppression(pair, 1 / 3 + 1e-9, 10).length, 2);
    assert.equal(nonMaxSuppression(pair, 0.3, 10).length, 1);
  });

  it("stops at maxDetections, best first", () => {
    const apart = Array.from({ length: 20 }, (_, i) => candidate(i * 20, 0, i * 20 + 10, 10, i / 20, 0));
    assert.deepEqual(
      nonMaxSuppression(apart, 0.45, 3).map((c) => c.x1),
      [380, 360, 340],
    );
  });

  it("looks at no more than MAX_NMS_CANDIDATES candidates, the best ones", () => {
    // The best MAX_NMS_CANDIDATES are one box (the first suppresses the rest); 5 weaker boxes lie apart
    // and would survive NMS if they were not cut first.
    const same = Array.from({ length: MAX_NMS_CANDIDATES }, (_, i) => candidate(0, 0, 10, 10, 0.9 - i / 1e7, 0));
    const apart = Array.from({ length: 5 }, (_, i) => candidate(100 + i * 20, 0, 110 + i * 20, 10, 0.5, 0));
    assert.deepEqual(nonMaxSuppression([...apart, ...same], 0.45, 300).map(plain), [[0, 0, 10, 10, 0.9, 0]]);
    assert.equal(nonMaxSuppression([...apart, ...same.slice(5)], 0.45, 300).length, 6);
  });
});

describe("supervised: classification scores", () => {
  it("applies softmax to logits", () => {
    const p = toProbabilities(Float32Array.of(2, 1, 0));
    const e = [Math.exp(2), Math.exp(1), 1];
    const sum = e[0]! + e[1]! + e[2]!;
    e.forEach((v, i) => assert.ok(Math.abs(p[i]! - v / sum) < 1e-6));
  });

  it("keeps a row that already is a probability distribution (graph with softmax) unchanged", () => {
    const row = Float32Array.of(0.7, 0.2, 0.1);
    assert.equal(isProbabilityRow(row), true);
    assert.deepEqual(Array.from(toProbabilities(row)), Array.from(row));
  });

  it("treats values in [0,1] that do not sum to 1 as logits", () => {
    const row = Float32Array.of(0.9, 0.8, 0.1);
    assert.equal(isProbabilityRow(row), false);
    assert.deepEqual(Array.from(toProbabilities(row)), Array.from(softmax(row)));
  });

  it("a single-class head is a binary score: kept in [0,1], sigmoid otherwise", () => {
    assert.ok(Math.abs(toProbabilities(Float32Array.of(0.3))[0]! - 0.3) < 1e-7);
    assert.ok(Math.abs(toProbabilities(Float32Array.of(2))[0]! - 1 / (1 + Math.exp(-2))) < 1e-7);
  });

  it("softmax is stable for large logits", () => {
    const p = softmax(Float32Array.of(1000, 999));
    assert.ok(Math.abs(p[0]! - 1 / (1 + Math.exp(-1))) < 1e-6);
  });

  it("top-k returns names and scores best first, ties by lower index", () => {
    const names = ["good", "scratch", "dent", "crack"];
    const got = topK(Float32Array.of(0.1, 0.4, 0.1, 0.4), 3, (i) => names[i]!);
    assert.deepEqual(
      got.map((c) => [c.class, c.name]),
      [
        [1, "scratch"],
        [3, "crack"],
        [0, "good"],
      ],
    );
  });
});

describe("supervised: float16 conversion", () => {
  it("converts exact halves both ways", () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) {
      assert.equal(toHalfBits(value), bits, `toHalf(${value})`);
      assert.equal(fromHalfBits(bits), value, `fromHalf(${bits.toString(16)})`);
    }
    assert.equal(toHalfBits(-0), 0x8000);
    assert.ok(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN))));
  });

  it("rounds to nearest, ties to even, overflows to infinity and underflows to zero", () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00);
    // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(toHalfBits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
    assert.equal(toHalfBits(65520), 0x7c00);
    assert.equal(toHalfBits(65519), 0x7bff);
    assert.equal(toHalfBits(2 ** -25), 0x0000);
    assert.equal(toHalfBits(2 ** -25 * 1.5), 0x0001);
    assert.equal(toHalfBits(3 * 2 ** -25), 0x0002);
  });

  it("round-trips every half value through float", () => {
    const all = Uint16Array.from({ length: 1 << 16 }, (_, i) => i);
    const back = floatsToHalf(halfToFloats(all));
    for (let i = 0; i < all.length; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!isNaN) assert.equal(back[i], i, `half 0x${i.toString(16)}`);
    }
  });
});
