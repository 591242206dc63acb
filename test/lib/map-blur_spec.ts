import { strict as assert } from "node:assert";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import { readLearnedRecord, recordedBlurSigma } from "../../src/lib/detector/storage/learned-record";
import { DefectError } from "../../src/lib/errors";
import { LEARNED_METADATA as METADATA } from "../fixtures/learned-metadata";

describe("anomaly map blur", function () {
  it("is sigma 2 for PatchCore from good parts with an ONNX backbone, anomalib's 4 with the embedded backbone, few shots and PaDiM", function () {
    const sigma = (extra: Record<string, unknown>) => parseDetectorOptions({ method: "patchcore", backbone: "/models/resnet.onnx", ...extra });
    assert.equal(sigma({}).patchcore.blurSigma, 2);
    assert.equal(sigma({ backbone: "embedded", layers: "stage2,stage3" }).patchcore.blurSigma, 4);
    assert.equal(sigma({ setting: "fewshot" }).patchcore.blurSigma, 4);
    assert.equal(sigma({ method: "padim" }).padim.blurSigma, 4);
  });

  it("is read from a saved model's record: files without it were learned with 4, one out of range is refused", function () {
    assert.equal(recordedBlurSigma(readLearnedRecord(METADATA, "old.ddm")), 4);
    assert.equal(recordedBlurSigma(readLearnedRecord({ ...METADATA, options: { coresetRatio: 0.05 } }, "old.ddm")), 4);
    assert.equal(recordedBlurSigma(readLearnedRecord({ ...METADATA, options: { blurSigma: 2 } }, "new.ddm")), 2);
    assert.equal(recordedBlurSigma(readLearnedRecord({ ...METADATA, options: { blurSigma: 0 } }, "none.ddm")), 0);
    for (const bad of [-1, 65]) {
      assert.throws(
        () => readLearnedRecord({ ...METADATA, options: { blurSigma: bad } }, "bad.ddm"),
        (e: unknown) =>
          e instanceof DefectError &&
          e.code === "modelFileInvalid" &&
          e.message === `bad.ddm is not a usable model file: the recorded map blur (blurSigma ${bad}) is not from 0 to 64`,
      );
    }
  });
});
