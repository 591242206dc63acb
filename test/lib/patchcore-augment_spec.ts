import { strict as assert } from "node:assert";
import type { Tensor } from "../../src/lib/image/types";
import {
  augmentationPlan,
  augmentEnabled,
  augmentShot,
  augmentTensor,
  DEFAULT_AUGMENT_OPTIONS,
  type AugmentOptions,
  type AugmentStep,
} from "../../src/lib/anomaly/patchcore/augment";
import { augmentOptionsFor, supportVariants } from "../../src/lib/detector/fit/support-set";

const STEP: AugmentStep = { angleDeg: 0, flipX: false, flipY: false, shiftX: 0, shiftY: 0, brightness: 1 };
const PLAIN_NORM = { mean: [0], std: [1] };

/** 1 channel, 3x3, values 1..9 row by row: [[1,2,3],[4,5,6],[7,8,9]]. */
function grid3(): Tensor {
  return { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), dims: [1, 1, 3, 3], layout: "NCHW" };
}

function values(t: Tensor): number[] {
  return Array.from(t.data);
}

describe("patchcore support-set augmentation", () => {
  it("flips horizontally and vertically", () => {
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, flipX: true }, PLAIN_NORM)), [3, 2, 1, 6, 5, 4, 9, 8, 7]);
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, flipY: true }, PLAIN_NORM)), [7, 8, 9, 4, 5, 6, 1, 2, 3]);
  });

  it("turns by right angles exactly (90 counter-clockwise, 180)", () => {
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, angleDeg: 90 }, PLAIN_NORM)), [3, 6, 9, 2, 5, 8, 1, 4, 7]);
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, angleDeg: 180 }, PLAIN_NORM)), [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, angleDeg: -90 }, PLAIN_NORM)), [7, 4, 1, 8, 5, 2, 9, 6, 3]);
  });

  it("turns an even-sized NHWC tensor by 90 degrees per channel", () => {
    // 2x2, 2 channels interleaved: channel 0 = [[1,2],[3,4]], channel 1 = 10x that.
    const t: Tensor = { data: Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]), dims: [1, 2, 2, 2], layout: "NHWC" };
    assert.deepEqual(values(augmentTensor(t, { ...STEP, angleDeg: 90 }, PLAIN_NORM)), [2, 20, 4, 40, 1, 10, 3, 30]);
  });

  it("shifts by whole pixels, repeating the border", () => {
    // shiftX 1/3 of width 3 = one pixel to the right.
    assert.deepEqual(values(augmentTensor(grid3(), { ...STEP, shiftX: 1 / 3 }, PLAIN_NORM)), [1, 1, 2, 4, 4, 5, 7, 7, 8]);
  });

  it("interpolates half-pixel shifts bilinearly", () => {
    const out = values(augmentTensor(grid3(), { ...STEP, shiftY: 0.5 / 3 }, PLAIN_NORM));
    assert.deepEqual(out, [1, 2, 3, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
  });

  it("scales brightness in pixel terms through the normalisation", () => {
    // pixel p = x * std + mean = 0.5 * 2 + 1 = 2; doubled to 4; normalised back (4 - 1) / 2 = 1.5.
    const t: Tensor = { data: Float32Array.from([0.5]), dims: [1, 1, 1, 1], layout: "NCHW" };
    assert.deepEqual(values(augmentTensor(t, { ...STEP, brightness: 2 }, { mean: [1], std: [2] })), [1.5]);
  });

  it("plans flips, the non-duplicate rotations and the random variants", () => {
    const options: AugmentOptions = { ...DEFAULT_AUGMENT_OPTIONS, rotations: [90, 180, 270], randomCount: 5 };
    const plan = augmentationPlan(options, 0);
    // 3 flips + 90 and 270 (180 = both flips) + 5 random.
    assert.equal(plan.length, 10);
    assert.deepEqual(
      plan.slice(0, 5).map((s) => [s.flipX, s.flipY, s.angleDeg]),
      [
        [true, false, 0],
        [false, true, 0],
        [true, true, 0],
        [false, false, 90],
        [false, false, 270],
      ],
    );
    for (const s of plan.slice(5)) {
      assert.ok(Math.abs(s.angleDeg) <= options.maxAngleDeg);
      assert.ok(Math.abs(s.shiftX) <= options.maxShift && Math.abs(s.shiftY) <= options.maxShift);
      assert.ok(Math.abs(s.brightness - 1) <= options.maxBrightness);
    }
    assert.equal(augmentShot(grid3(), { ...options, ...PLAIN_NORM }, 0).length, 10);
    assert.equal(augmentationPlan({ ...options, flips: false, rotations: [], randomCount: 0 }, 0).length, 0);
  });

  it("gives the same variants for the same seed and image, others for another seed", () => {
    const a = augmentationPlan(DEFAULT_AUGMENT_OPTIONS, 3);
    assert.deepEqual(augmentationPlan(DEFAULT_AUGMENT_OPTIONS, 3), a);
    assert.notDeepEqual(augmentationPlan({ ...DEFAULT_AUGMENT_OPTIONS, seed: 1 }, 3), a);
    assert.notDeepEqual(augmentationPlan(DEFAULT_AUGMENT_OPTIONS, 4), a);
    const t: Tensor = { data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i)), dims: [1, 3, 8, 8], layout: "NCHW" };
    assert.deepEqual(augmentShot(t, DEFAULT_AUGMENT_OPTIONS, 3).map(values), augmentShot(t, DEFAULT_AUGMENT_OPTIONS, 3).map(values));
  });

  it("is on in auto mode up to maxShots, always when on, never when off", () => {
    assert.equal(augmentEnabled({ mode: "auto", maxShots: 8 }, 8), true);
    assert.equal(augmentEnabled({ mode: "auto", maxShots: 8 }, 9), false);
    assert.equal(augmentEnabled({ mode: "on", maxShots: 8 }, 100), true);
    assert.equal(augmentEnabled({ mode: "off", maxShots: 8 }, 1), false);
  });

  it("gives a detector round the variants of its shots: plan i for shot i, made on demand, within maxShots", () => {
    const shots: Tensor[] = [0, 1, 2].map((k) => ({
      data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i + k)),
      dims: [1, 3, 8, 8],
      layout: "NCHW",
    }));
    const choice = { mode: "auto" as const, rotations: [], maxShots: 3 };
    const { variants, record } = supportVariants(choice, shots, null);
    const per = augmentationPlan(DEFAULT_AUGMENT_OPTIONS, 0).length;
    assert.equal(variants.length, 3 * per);
    assert.deepEqual(record, { mode: "auto", shots: 3, variants: 3 * per, rotations: [] });
    const options = augmentOptionsFor(choice, null);
    assert.deepEqual(
      variants.filter((v) => v.shot === 2).map((v) => values(v.make())),
      augmentShot(shots[2] as Tensor, options, 2).map(values),
    );
    // "auto" past maxShots learns no variant; "on" learns the first maxShots shots' only; "off" none.
    assert.equal(supportVariants({ ...choice, maxShots: 2 }, shots, null).variants.length, 0);
    const on = supportVariants({ ...choice, mode: "on", maxShots: 2 }, shots, null);
    assert.deepEqual([...new Set(on.variants.map((v) => v.shot))], [0, 1]);
    assert.equal(on.record.shots, 2);
    assert.deepEqual(supportVariants({ ...choice, mode: "off" }, shots, null).record, { mode: "off", shots: 0, variants: 0, rotations: [] });
    // Another seed draws other random variants (the sweep's spread), the flips stay.
    const reseeded = supportVariants(choice, shots, null, 1).variants;
    assert.deepEqual(values(reseeded[0]!.make()), values(variants[0]!.make()));
    assert.notDeepEqual(values(reseeded[per - 1]!.make()), values(variants[per - 1]!.make()));
  });
});
