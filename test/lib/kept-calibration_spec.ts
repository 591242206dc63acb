/**
 * The learned images a model keeps for its calibration (kept-calibration.ts): a tensor made from
 * an 8-bit image comes back exactly at one byte a value; any other within half a step of 1/65535
 * of its range at two bytes; shape and layout kept.
 */
import assert from "node:assert/strict";
import { compactTensor, expandTensor } from "../../src/lib/detector/online/kept-calibration";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { Tensor } from "../../src/lib/image/types";
import { Rng } from "../../src/lib/random";
import { generateGood } from "../../src/offline/synth";
import { encodePng } from "../fixtures/images";

describe("a kept learned image's tensor", function () {
  for (const layout of ["NCHW", "NHWC"] as const) {
    it(`comes back exactly at one byte a value when made from an 8-bit image (${layout})`, async function () {
      const options = parsePreprocessOptions({ preset: "imagenet", width: 48, height: 40, layout });
      const { tensor } = await preprocessImage(await encodePng(generateGood("cast-surface", 3, 64)), options, { maxPixels: 1e8 });
      const compact = compactTensor(tensor);
      assert.equal(compact.kind, "levels");
      assert.equal(compact.codes.byteLength * 4, tensor.data.byteLength);
      assert.deepEqual(expandTensor(compact), tensor);
    });
  }

  it("comes back within half a step of 1/65535 of its range at two bytes a value when it has more levels", function () {
    const rng = new Rng(5);
    const tensor: Tensor = { data: Float32Array.from({ length: 3 * 32 * 32 }, () => -2.1 + 4.7 * rng.next()), dims: [1, 3, 32, 32], layout: "NCHW" };
    const compact = compactTensor(tensor);
    assert.equal(compact.kind, "range");
    assert.equal(compact.codes.byteLength * 2, tensor.data.byteLength);
    const back = expandTensor(compact);
    assert.deepEqual([back.dims, back.layout], [tensor.dims, tensor.layout]);
    const halfStep = (Math.max(...tensor.data) - Math.min(...tensor.data)) / 65535 / 2;
    const worst = tensor.data.reduce((m, v, i) => Math.max(m, Math.abs(v - (back.data[i] as number))), 0);
    assert.ok(worst <= halfStep * 1.01, `${worst} > ${halfStep}`);
  });

  it("keeps a tensor of one value exactly (an unlit image)", function () {
    const tensor: Tensor = { data: new Float32Array(12).fill(-1.5), dims: [1, 2, 2, 3], layout: "NHWC" };
    assert.deepEqual(expandTensor(compactTensor(tensor)), tensor);
  });
});
