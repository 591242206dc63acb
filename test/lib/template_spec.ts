import assert from "node:assert/strict";
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { DefectError } from "../../src/lib/errors";
import type { RawImage, ScoreMap } from "../../src/lib/image/types";
import { labelComponents } from "../../src/lib/regions/components";
import {
  checkNormalModel,
  compareGoldenPlanes,
  comparePlanes,
  compareToReference,
  DEFAULT_NORMAL_MODEL,
  estimateShiftField,
  extractRegions,
  fitGoldenPlanes,
  fitNormalModel,
  phaseCorrelate,
  registerToTest,
  type GrayPlane,
  type NormalDifferenceModel,
  type TemplateRegion,
} from "../../src/offline/template";
import { fft2d } from "../../src/lib/anomaly/template/fft";
import { gaussianBlur } from "../../src/lib/anomaly/template/filters";
import { boxMask, componentBoxStats, scoreAtMinArea } from "../../src/offline/template/regions-eval";
import { sparseComponents } from "../../src/lib/anomaly/template/sparse-components";
import { evaluateTemplate } from "../../src/offline/eval/template-eval";

// ---- a synthetic printed board, rendered with exact area coverage so sub-pixel shifts are real ----

/** Axis-aligned copper rectangles [x0, x1) x [y0, y1): their coverage of a pixel is exact, so sub-pixel shifts are too. */
interface Shape {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
/** Displacement of the content at a pixel: the renderer draws the board moved by d(p). */
type Displacement = (x: number, y: number) => [number, number];

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/** Copper dark (0) on a light board (1), like DeepPCB's binarised scans. Shapes must not overlap. */
function render(size: number, shapes: Shape[], move: Displacement = () => [0, 0]): GrayPlane {
  const data = new Float32Array(size * size).fill(1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [dx, dy] = move(x, y);
      let covered = 0;
      for (const s of shapes) covered += overlap(x - dx, x + 1 - dx, s.x0, s.x1) * overlap(y - dy, y + 1 - dy, s.y0, s.y1);
      data[y * size + x] = 1 - Math.min(1, covered);
    }
  }
  return { data, width: size, height: size };
}

/** Horizontal tracks, vertical tracks between them, and square pads; `size` a multiple of 64. */
function board(size: number): Shape[] {
  const shapes: Shape[] = [];
  for (let k = 0; k < size / 32; k++) {
    const y = 12 + k * 32;
    shapes.push({ x0: 8, y0: y, x1: size - 8 - (k % 3) * 20, y1: y + 6 });
    const px = 14 + ((k * 37) % (size - 40));
    shapes.push({ x0: px, y0: y + 14, x1: px + 10, y1: y + 24 });
  }
  for (let k = 0; k < size / 64; k++) {
    const x = 30 + k * 64;
    // Vertical tracks run in the gaps between horizontal ones so no shapes overlap.
    for (let j = 0; j < size / 32 - 1; j++) shapes.push({ x0: x, y0: 18 + j * 32, x1: x + 5, y1: 44 + j * 32 });
  }
  return shapes;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Scanner noise plus binarisation: values snap to 0 or 1, so edges jitter by about a pixel;
 * optical blur before the snap (`blur` > 0) widens the jitter to two pixels and more.
 */
function binarise(plane: GrayPlane, seed: number, noise: number, blur = 0): GrayPlane {
  const random = mulberry32(seed);
  const source = blur > 0 ? gaussianBlur(plane, blur) : plane;
  const data = Float32Array.from(source.data, (v) => (v + (random() - 0.5) * 2 * noise >= 0.5 ? 1 : 0));
  return { data, width: plane.width, height: plane.height };
}

function toRaw(plane: GrayPlane): RawImage {
  return { data: Uint8Array.from(plane.data, (v) => Math.round(v * 255)), width: plane.width, height: plane.height, channels: 1, bitDepth: 8 };
}

function overlaps(region: TemplateRegion, x: number, y: number, w: number, h: number): boolean {
  const b = region.box;
  return b.x < x + w && x < b.x + b.width && b.y < y + h && y < b.y + b.height;
}

const SIZE = 256;
const BOARD = board(SIZE);
/** A cut across the first vertical track (an open) and a stray blob of copper (a short risk). */
const OPEN = { x: 30, y: 88, w: 5, h: 8 };
const BLOB: Shape = { x0: 196, y0: 150, x1: 206, y1: 158 };

/** The vertical track piece at x 30..35 covering rows 82..108 loses rows OPEN.y .. OPEN.y + OPEN.h. */
function withOpen(shapes: Shape[]): Shape[] {
  return shapes.flatMap((s) =>
    s.x0 === OPEN.x && s.y0 < OPEN.y && s.y1 > OPEN.y + OPEN.h
      ? [
          { ...s, y1: OPEN.y },
          { ...s, y0: OPEN.y + OPEN.h },
        ]
      : [s],
  );
}

// A model as the fit would choose it for these synthetic scans: 1 px tolerance, thin fringes opened away.
const MODEL: NormalDifferenceModel = { ...DEFAULT_NORMAL_MODEL, opening: 2, threshold: 0.5, minArea: 6 };

describe("template comparison", function () {
  describe("FFT", function () {
    it("transforms an impulse to a flat spectrum and inverts exactly", function () {
      const re = new Float64Array(16 * 8);
      const im = new Float64Array(16 * 8);
      re[0] = 1;
      fft2d(re, im, 16, 8, false);
      assert.ok(re.every((v) => Math.abs(v - 1) < 1e-12) && im.every((v) => Math.abs(v) < 1e-12));
      const random = mulberry32(3);
      const signal = Float64Array.from({ length: 16 * 8 }, () => random());
      const r2 = signal.slice();
      const i2 = new Float64Array(signal.length);
      fft2d(r2, i2, 16, 8, false);
      fft2d(r2, i2, 16, 8, true);
      assert.ok(r2.every((v, i) => Math.abs(v - (signal[i] as number)) < 1e-12));
    });
  });

  describe("alignment", function () {
    const reference = render(SIZE, BOARD);

    it("recovers an integer shift by phase correlation", function () {
      const moved = render(SIZE, BOARD, () => [7, -4]);
      const shift = phaseCorrelate(reference, moved);
      assert.ok(Math.abs(shift.dx - 7) < 0.25 && Math.abs(shift.dy + 4) < 0.25, `got ${shift.dx}, ${shift.dy}`);
      assert.ok(shift.confidence > 0.2, `confidence ${shift.confidence}`);
    });

    it("recovers a sub-pixel shift within 0.1 px after local refinement", function () {
      const moved = render(SIZE, BOARD, () => [1.3, -0.6]);
      const shift = phaseCorrelate(reference, moved);
      assert.ok(Math.abs(shift.dx - 1.3) < 0.25 && Math.abs(shift.dy + 0.6) < 0.25, `global ${shift.dx}, ${shift.dy}`);
      const field = estimateShiftField(reference, moved, shift);
      // Cells away from the border, where the window sees the whole pattern.
      for (let r = 2; r < field.rows - 2; r++) {
        for (let c = 2; c < field.cols - 2; c++) {
          const k = r * field.cols + c;
          assert.ok(Math.abs((field.dx[k] as number) - 1.3) < 0.1, `dx ${field.dx[k]} at cell ${c},${r}`);
          assert.ok(Math.abs((field.dy[k] as number) + 0.6) < 0.1, `dy ${field.dy[k]} at cell ${c},${r}`);
        }
      }
    });

    it("follows a displacement confined to one area", function () {
      // 1.5 px down around (128, 128), fading out over ~30 px: one tile of a scan stretched locally.
      const bump: Displacement = (x, y) => [0, 1.5 * Math.exp(-((x - 128) ** 2 + (y - 128) ** 2) / (2 * 30 * 30))];
      const moved = render(SIZE, BOARD, bump);
      const { field } = registerToTest(moved, reference);
      const at = (x: number, y: number): number => field.dy[Math.floor(y / field.cellSize) * field.cols + Math.floor(x / field.cellSize)] as number;
      assert.ok(Math.abs(at(128, 128) - 1.5) < 0.3, `centre ${at(128, 128)}`);
      assert.ok(Math.abs(at(40, 40)) < 0.3, `corner ${at(40, 40)}`);
      assert.ok(Math.abs(at(215, 215)) < 0.3, `corner ${at(215, 215)}`);
    });
  });

  describe("comparison with a reference", function () {
    const reference = binarise(render(SIZE, BOARD), 1, 0.2);

    it("finds a missing track segment and an extra blob where they are", function () {
      const test = binarise(
        render(SIZE, [...withOpen(BOARD), BLOB], () => [0.4, -0.7]),
        2,
        0.2,
      );
      const result = compareToReference(toRaw(test), toRaw(reference), MODEL);
      assert.equal(result.regions.length, 2, JSON.stringify(result.regions));
      assert.ok(
        result.regions.some((r) => overlaps(r, OPEN.x, OPEN.y, OPEN.w, OPEN.h)),
        "open not found",
      );
      assert.ok(
        result.regions.some((r) => overlaps(r, BLOB.x0, BLOB.y0, BLOB.x1 - BLOB.x0, BLOB.y1 - BLOB.y0)),
        "blob not found",
      );
      assert.equal(result.map.width, SIZE);
      assert.equal(result.map.data.length, SIZE * SIZE);
      assert.ok(result.score >= MODEL.threshold);
    });

    it("reports nothing for a good part shifted by a pixel with edge jitter", function () {
      const test = binarise(
        render(SIZE, BOARD, () => [1, 0.5]),
        3,
        0.2,
      );
      const result = compareToReference(toRaw(test), toRaw(reference), MODEL);
      assert.deepEqual(result.regions, []);
    });

    it("rejects images of different sizes and models with bad fields", function () {
      const small: RawImage = { data: new Uint8Array(64 * 64), width: 64, height: 64, channels: 1, bitDepth: 8 };
      assert.throws(
        () => compareToReference(small, toRaw(reference)),
        (err: unknown) => err instanceof DefectError && err.code === "imageSizeMismatch" && /64x64/.test(err.message),
      );
      assert.throws(
        () => checkNormalModel({ ...MODEL, threshold: 0 }),
        (err: unknown) => err instanceof DefectError && err.code === "invalidOption" && err.details.option === "threshold",
      );
    });
  });

  describe("line-width drift", function () {
    const DRIFT = 2;
    // Without the opening, a 1 px fringe left beyond the tolerance would show.
    const strict: NormalDifferenceModel = { ...MODEL, opening: 1 };
    const reference = binarise(render(SIZE, BOARD), 5, 0.2);
    // The same board scanned with every copper shape 2 px taller on each side (over-exposure along y):
    // a pixel beyond what the 1 px tolerance absorbs.
    const taller = (shapes: Shape[]): Shape[] => shapes.map((s) => ({ ...s, y0: s.y0 - DRIFT, y1: s.y1 + DRIFT }));
    const thick = binarise(
      render(SIZE, taller(BOARD), () => [0.3, 0.2]),
      6,
      0.2,
    );

    it("is estimated per image and compensated, so a uniformly thicker scan passes", function () {
      const result = comparePlanes(thick, reference, strict);
      assert.deepEqual(result.widthBias, { x: 0, y: 2 });
      assert.deepEqual(result.regions, []);
    });

    it("shows along every horizontal edge without the compensation", function () {
      const result = comparePlanes(thick, reference, { ...strict, maxWidthBias: 0 });
      assert.deepEqual(result.widthBias, { x: 0, y: 0 });
      assert.ok(result.regions.length >= 8, `${result.regions.length} regions`);
    });

    it("still finds a defect on the thicker scan", function () {
      const test = binarise(render(SIZE, taller([...withOpen(BOARD), BLOB])), 7, 0.2);
      const result = comparePlanes(test, reference, strict);
      assert.deepEqual(result.widthBias, { x: 0, y: 2 });
      assert.equal(result.regions.length, 2, JSON.stringify(result.regions));
    });
  });

  describe("regions", function () {
    // 0 0 0 0 0 0
    // 0 9 9 0 0 7
    // 0 9 0 0 0 7
    // 0 0 6 0 0 0   (the 6 touches the 9 above-left of it diagonally)
    const map: ScoreMap = { data: Float32Array.from([0, 0, 0, 0, 0, 0, 0, 9, 9, 0, 0, 7, 0, 9, 0, 0, 0, 7, 0, 0, 6, 0, 0, 0]), width: 6, height: 4 };

    it("are 8-connected components above threshold, small ones dropped", function () {
      assert.deepEqual(extractRegions(map, 5, 2), [
        { box: { x: 1, y: 1, width: 2, height: 3 }, area: 4, maxScore: 9, meanScore: 8.25 },
        { box: { x: 5, y: 1, width: 1, height: 2 }, area: 2, maxScore: 7, meanScore: 7 },
      ]);
      assert.equal(extractRegions(map, 8, 1).length, 1);
    });

    it("agree with the whole-image labelling", function () {
      const random = mulberry32(9);
      const values = Float32Array.from({ length: 40 * 30 }, () => random());
      const sparse = sparseComponents(values, 40, 0.7);
      const full = labelComponents(40, 30, (i) => (values[i] as number) >= 0.7, 8);
      assert.equal(sparse.count, full.count);
      sparse.pixels.forEach((p, k) => assert.equal((sparse.component[k] as number) + 1, full.labels[p]));
    });

    it("count boxes hit and regions that touch no box", function () {
      const boxes = [
        { x: 2, y: 2, width: 2, height: 2 },
        { x: 0, y: 0, width: 1, height: 1 },
      ];
      const stats = componentBoxStats(sparseComponents(map.data, 6, 5), 6, boxes, boxMask(boxes, 6, 4));
      assert.deepEqual(scoreAtMinArea(stats, 1), { hit: [true, false], falseRegions: 1 });
      assert.deepEqual(scoreAtMinArea(stats, 5), { hit: [false, false], falseRegions: 0 });
    });
  });

  describe("normal-difference model", function () {
    it("learns wider tolerance at edges than in flat areas and a point that finds every training defect", function () {
      const pairs = [0, 1, 2, 3].map((k) => {
        const blob: Shape = { x0: 60 + k * 40, y0: 150, x1: 68 + k * 40, y1: 157 };
        return {
          test: binarise(
            render(SIZE, [...BOARD, blob], () => [0.3 * k, -0.2 * k]),
            10 + k,
            0.3,
            1.5,
          ),
          reference: binarise(render(SIZE, BOARD), 20 + k, 0.3, 1.5),
          boxes: [{ x: blob.x0 - 2, y: blob.y0 - 2, width: 12, height: 11 }],
        };
      });
      const model = fitNormalModel(pairs);
      assert.equal(model.edgeTolerance.length, 5);
      assert.ok(
        model.edgeTolerance.every((t) => t >= 0 && t <= 0.8),
        JSON.stringify(model.edgeTolerance),
      );
      assert.ok((model.edgeTolerance[0] as number) > (model.edgeTolerance[4] as number), JSON.stringify(model.edgeTolerance));
      assert.equal(model.fit?.pairs, 4);
      assert.equal(model.fit?.boxes, 4);
      assert.equal(model.fit?.recall, 1);
      assert.equal(model.fit?.falseRegionsPerImage, 0);
      // The learned model then finds a new defect on a new scan and nothing else.
      const test = binarise(
        render(SIZE, [...withOpen(BOARD)], () => [-0.5, 0.6]),
        30,
        0.3,
        1.5,
      );
      const result = comparePlanes(test, binarise(render(SIZE, BOARD), 31, 0.3, 1.5), model);
      assert.equal(result.regions.length, 1, JSON.stringify(result.regions));
      assert.ok(overlaps(result.regions[0] as TemplateRegion, OPEN.x, OPEN.y, OPEN.w, OPEN.h));
    });
  });

  describe("golden model", function () {
    const shifts: Array<[number, number]> = [
      [0, 0],
      [0.6, -0.3],
      [-0.8, 0.4],
      [1.1, 0.9],
      [-0.3, -1.2],
    ];
    const goods = shifts.map(([dx, dy], k) =>
      binarise(
        render(SIZE, BOARD, () => [dx, dy]),
        40 + k,
        0.2,
      ),
    );
    const model = fitGoldenPlanes(goods);

    it("flags a defect on a part with no reference image of its own", function () {
      const test = binarise(
        render(SIZE, [...withOpen(BOARD), BLOB], () => [0.5, 0.5]),
        50,
        0.2,
      );
      const result = compareGoldenPlanes(test, model);
      assert.equal(model.images, 5);
      assert.equal(result.regions.length, 2, JSON.stringify(result.regions));
      assert.ok(
        result.regions.some((r) => overlaps(r, OPEN.x, OPEN.y, OPEN.w, OPEN.h)),
        "open not found",
      );
      assert.ok(
        result.regions.some((r) => overlaps(r, BLOB.x0, BLOB.y0, BLOB.x1 - BLOB.x0, BLOB.y1 - BLOB.y0)),
        "blob not found",
      );
    });

    it("passes another good part", function () {
      const test = binarise(
        render(SIZE, BOARD, () => [-0.4, 0.7]),
        51,
        0.2,
      );
      assert.deepEqual(compareGoldenPlanes(test, model).regions, []);
    });

    it("needs at least two good images", function () {
      assert.throws(
        () => fitGoldenPlanes(goods.slice(0, 1)),
        (err: unknown) => err instanceof DefectError && err.code === "invalidOption" && err.details.images === 1,
      );
    });
  });

  describe("evaluateTemplate", function () {
    const small = 128;
    const smallBoard = board(small);
    let root = "";

    async function writePng(path: string, plane: GrayPlane): Promise<void> {
      const raw = toRaw(plane);
      await sharp(Buffer.from(raw.data), { raw: { width: raw.width, height: raw.height, channels: 1 } })
        .png()
        .toFile(path);
    }

    before(async function () {
      root = mkdtempSync(join(tmpdir(), "template-eval-"));
      for (const dir of ["train/good", "train_defect/defect", "annotations/train", "annotations/test", "test/defect", "reference", "ground_truth/defect"]) {
        mkdirSync(join(root, dir), { recursive: true });
      }
      // Training: one extra-copper blob per pair, at different places.
      for (let k = 0; k < 3; k++) {
        const id = `t${k}`;
        const blob: Shape = { x0: 40 + 20 * k, y0: 86, x1: 47 + 20 * k, y1: 92 };
        await writePng(join(root, "train/good", `${id}.png`), binarise(render(small, smallBoard), 60 + k, 0.2));
        await writePng(
          join(root, "train_defect/defect", `${id}.png`),
          binarise(
            render(small, [...smallBoard, blob], () => [0.4 * k, -0.3]),
            70 + k,
            0.2,
          ),
        );
        const box = [blob.x0 - 2, blob.y0 - 2, blob.x1 + 2, blob.y1 + 2];
        writeFileSync(join(root, "annotations/train", `${id}.json`), JSON.stringify({ defects: [{ box, type: "copper" }] }));
      }
      // Test: an open and a blob in the first pair, only a blob in the second.
      const tests: Array<{ id: string; shapes: Shape[]; defects: Array<{ box: number[]; type: string }> }> = [
        {
          id: "p0",
          shapes: [...withOpen(smallBoard), { x0: 100, y0: 86, x1: 107, y1: 92 }],
          defects: [
            { box: [OPEN.x - 2, OPEN.y - 2, OPEN.x + OPEN.w + 2, OPEN.y + OPEN.h + 2], type: "open" },
            { box: [98, 84, 109, 94], type: "copper" },
          ],
        },
        { id: "p1", shapes: [...smallBoard, { x0: 60, y0: 86, x1: 67, y1: 92 }], defects: [{ box: [58, 84, 69, 94], type: "copper" }] },
      ];
      for (const [k, t] of tests.entries()) {
        await writePng(join(root, "reference", `${t.id}.png`), binarise(render(small, smallBoard), 80 + k, 0.2));
        await writePng(
          join(root, "test/defect", `${t.id}.png`),
          binarise(
            render(small, t.shapes, () => [-0.6, 0.5 * k]),
            90 + k,
            0.2,
          ),
        );
        writeFileSync(join(root, "annotations/test", `${t.id}.json`), JSON.stringify({ defects: t.defects }));
        const mask = new Float32Array(small * small).fill(1);
        for (const d of t.defects) {
          const [x0, y0, x1, y1] = d.box as [number, number, number, number];
          for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * small + x] = 0;
        }
        // Masks are white on black; the plane writer maps 1 to 255, so invert.
        await writePng(join(root, "ground_truth/defect", `${t.id}_mask.png`), { data: mask.map((v) => 1 - v), width: small, height: small });
      }
    });

    after(function () {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it("fits on the training pairs and scores the test pairs", async function () {
      const lines: string[] = [];
      const result = await evaluateTemplate({ data: root, progress: (line) => lines.push(line) });
      assert.equal(result.train_pairs, 3);
      assert.equal(result.test_pairs, 2);
      assert.equal(result.boxes, 3);
      assert.equal(result.defect_recall, 1);
      assert.equal(result.false_regions_per_image, 0);
      assert.deepEqual(result.recall_by_type, { open: { boxes: 1, found: 1, recall: 1 }, copper: { boxes: 2, found: 2, recall: 1 } });
      assert.equal(result.train_recall, 1);
      assert.equal(result.threshold, result.model.threshold);
      assert.ok(result.pixel_auroc > 0.5 && result.pixel_auroc <= 1, `pixel AUROC ${result.pixel_auroc}`);
      assert.ok(result.aupro > 0 && result.aupro <= 1, `AUPRO ${result.aupro}`);
      assert.ok(
        lines.some((l) => l.startsWith("fitted on 3 pairs")),
        lines.join("\n"),
      );
    });

    it("names a missing reference folder", async function () {
      await assert.rejects(
        evaluateTemplate({ data: root, referenceDir: join(root, "nowhere") }),
        (err: unknown) => err instanceof DefectError && err.code === "folderNotFound" && err.message.includes("nowhere"),
      );
    });
  });

  describe("on DeepPCB", function () {
    const data = resolve(process.cwd(), "../shared/datasets/deeppcb");

    it("finds at least 90 % of the defects on 10 test pairs", async function () {
      if (!existsSync(data)) {
        console.log(`      (skipped: ${data} not found)`);
        this.skip();
      }
      this.timeout(60000);
      const result = await evaluateTemplate({ data, limit: 10, trainLimit: 10 });
      assert.equal(result.test_pairs, 10);
      assert.ok(result.defect_recall >= 0.9, `recall ${result.defect_recall}`);
      assert.ok(result.false_regions_per_image <= 2, `false regions ${result.false_regions_per_image}`);
    });
  });
});
