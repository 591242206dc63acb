import { strict as assert } from "node:assert";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import { readLearnedRecord } from "../../src/lib/detector/storage/learned-record";
import { DefectError } from "../../src/lib/errors";
import { neighbourhoodByDefault } from "../../src/lib/features/neighbourhood";
import { LEARNED_METADATA as METADATA } from "../fixtures/learned-metadata";

describe("patch neighbourhood option", function () {
  it("keeps the finest layer alone and averages the others 3 x 3 by default for PatchCore from good parts with an ONNX backbone, else 3 x 3, and is set by the Neighbourhood option", function () {
    assert.equal(neighbourhoodByDefault("patchcore", false, "/models/resnet.onnx"), "1,3");
    assert.equal(neighbourhoodByDefault("patchcore", false, "embedded"), "3");
    assert.equal(neighbourhoodByDefault("patchcore", true, "/models/resnet.onnx"), "3");
    const parse = (extra: Record<string, unknown>) => parseDetectorOptions({ method: "patchcore", backbone: "/models/resnet.onnx", ...extra }).neighbourhood;
    assert.deepEqual(parse({}), [1, 3]);
    assert.deepEqual(parse({ neighbourhood: "auto" }), [1, 3]);
    assert.deepEqual(parse({ layers: "layer1,layer2,layer3" }), [1, 3, 3], "one window a layer");
    assert.deepEqual(parse({ neighbourhood: "3" }), [3, 3]);
    assert.deepEqual(parse({ neighbourhood: 3 }), [3, 3], "a number from a flow file written by hand");
    assert.deepEqual(parse({ neighbourhood: "1" }), [1, 1]);
    assert.deepEqual(parse({ setting: "fewshot" }), [3, 3]);
    assert.deepEqual(parse({ backbone: "embedded", layers: "stage2,stage3" }), [3, 3]);
    assert.deepEqual(parse({ backbone: "embedded", layers: "stage2,stage3", neighbourhood: "1,3" }), [1, 3]);
    for (const bad of ["5", "3,1"]) {
      assert.throws(
        () => parse({ neighbourhood: bad }),
        (e: Error & { code?: string }) => e.code === "invalidOption" && /neighbourhood/.test(e.message) && /auto, 1, 3, 1,3/.test(e.message),
      );
    }
  });

  it("is read from a saved model's record: files saved before it was recorded were learned with 3 x 3, a malformed one is refused", function () {
    assert.deepEqual(readLearnedRecord(METADATA, "old.ddm").neighbourhood, [3, 3]);
    assert.deepEqual(readLearnedRecord({ ...METADATA, neighbourhood: [1, 3] }, "new.ddm").neighbourhood, [1, 3]);
    for (const bad of [5, [1, 5], [1], [1, 3, 3]]) {
      assert.throws(
        () => readLearnedRecord({ ...METADATA, neighbourhood: bad }, "bad.ddm"),
        (e: unknown) =>
          e instanceof DefectError &&
          e.code === "modelFileInvalid" &&
          e.message === "bad.ddm is not a usable model file: the neighbourhood record is not one window (1 or 3) for each of the 2 layers",
        JSON.stringify(bad),
      );
    }
  });
});
