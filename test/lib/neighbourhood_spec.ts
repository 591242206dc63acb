import { strict as assert } from "node:assert";
import { parseDetectorOptions } from "../../src/lib/detector/options";
import { readLearnedRecord } from "../../src/lib/detector/storage/learned-record";
import { DefectError } from "../../src/lib/errors";
import { neighbourhoodByDefault } from "../../src/lib/features/neighbourhood";

const METADATA = {
  setting: "unsupervised",
  method: "patchcore",
  backbone: { name: "b.onnx", size: 10, sha256: "ab", input: "x" },
  layers: ["l1", "l2"],
  created: "2026-12-07T00:00:00.000Z",
  trainedOn: 3,
  input: { dims: [1, 3, 8, 8], layout: "NCHW" },
  preprocessing: null,
};

describe("patch neighbourhood option", function () {
  it("is 1 x 1 by default for PatchCore learning from good parts with an ONNX backbone, else 3 x 3, and set by the Neighbourhood option", function () {
    assert.equal(neighbourhoodByDefault("patchcore", false, "/models/resnet.onnx"), 1);
    assert.equal(neighbourhoodByDefault("patchcore", false, "embedded"), 3);
    assert.equal(neighbourhoodByDefault("patchcore", true, "/models/resnet.onnx"), 3);
    const parse = (extra: Record<string, unknown>) => parseDetectorOptions({ method: "patchcore", backbone: "/models/resnet.onnx", ...extra }).neighbourhood;
    assert.equal(parse({}), 1);
    assert.equal(parse({ neighbourhood: "auto" }), 1);
    assert.equal(parse({ neighbourhood: "3" }), 3);
    assert.equal(parse({ neighbourhood: 3 }), 3, "a number from a flow file written by hand");
    assert.equal(parse({ setting: "fewshot" }), 3);
    assert.equal(parse({ backbone: "embedded" }), 3);
    assert.equal(parse({ backbone: "embedded", neighbourhood: "1" }), 1);
    assert.throws(
      () => parse({ neighbourhood: "5" }),
      (e: Error & { code?: string }) => e.code === "invalidOption" && /neighbourhood/.test(e.message) && /auto, 1, 3/.test(e.message),
    );
  });

  it("is read from a saved model's record: files saved before it was recorded were learned with 3 x 3, a malformed one is refused", function () {
    assert.equal(readLearnedRecord(METADATA, "old.ddm").neighbourhood, 3);
    assert.equal(readLearnedRecord({ ...METADATA, neighbourhood: 1 }, "new.ddm").neighbourhood, 1);
    assert.throws(
      () => readLearnedRecord({ ...METADATA, neighbourhood: 5 }, "bad.ddm"),
      (e: unknown) =>
        e instanceof DefectError &&
        e.code === "modelFileInvalid" &&
        e.message === "bad.ddm is not a usable model file: the neighbourhood record is not one of 1, 3",
    );
  });
});
