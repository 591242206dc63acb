/**
 * The threshold's "Label in" picker: labelled calibration samples may carry "good" / "defect"
 * in any message property, e.g. where an upstream node or a dashboard button put it.
 */
import assert from "node:assert/strict";
import type { NodeMessage } from "node-red";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { catchAll, caughtError, collectMessages, getNode, helper, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const TYPE = "defect-threshold";
const node = withCatalog(thresholdNode, catalogTranslator("threshold"));

interface SampleAnswer {
  label: string;
  calibration?: { mode: string; threshold: number; samples: { good: number; defect: number } };
}

describe("defect-threshold: calibration labels from a chosen message property", function () {
  useNodeRedHelper();

  async function load(config: Partial<ThresholdNodeDef>): Promise<void> {
    const thr: FlowItem<ThresholdNodeDef> = { id: "thr", type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([thr, { id: "out", type: "helper" }, ...catchAll()]));
  }

  it("reads the label from the property the editor names, nested names too", async function () {
    await load({ mode: "f1", calibrationCount: "4", labelProperty: "part.verdict" });
    const samples: NodeMessage[] = [
      { payload: 0.1, part: { verdict: "good" } },
      { payload: 0.2, part: { verdict: "good" } },
      // msg.label is not the chosen property: ignored.
      { payload: 0.8, part: { verdict: "defect" }, label: "good" },
      { payload: 0.9, part: { verdict: "defect" } },
    ] as NodeMessage[];
    const outs = collectMessages(getNode("out"), samples.length);
    for (const sample of samples) getNode("thr").receive({ calibrate: true, ...sample } as NodeMessage);
    const answers = (await outs).map((m) => m.payload as SampleAnswer);
    assert.deepEqual(
      answers.map((a) => a.label),
      ["good", "good", "defect", "defect"],
    );
    const calibration = answers[3]?.calibration;
    assert.deepEqual(calibration?.samples, { good: 2, defect: 2 });
    assert.ok(calibration !== undefined && calibration.threshold > 0.2 && calibration.threshold <= 0.8, `threshold ${calibration?.threshold}`);
  });

  it("names the chosen property when its label is wrong, and treats a missing parent as no label", async function () {
    await load({ mode: "f1", calibrationCount: "10", labelProperty: "part.verdict" });
    const caught = nextMessage(getNode("caught"));
    getNode("thr").receive({ _msgid: "bad", calibrate: true, payload: 0.5, part: { verdict: "scratched" } } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "invalidOption");
    assert.equal(error.message, "Error: Invalid msg.part.verdict: scratched");
    const out = nextMessage(getNode("out"));
    getNode("thr").receive({ calibrate: true, payload: 0.5 } as NodeMessage);
    assert.equal(((await out).payload as SampleAnswer).label, "good", "no msg.part: the default label");
  });

  it("refuses at deploy a label property that is no property name", async function () {
    await load({ mode: "f1", labelProperty: "part verdict" });
    const caught = nextMessage(getNode("caught"));
    getNode("thr").receive({ _msgid: "any", payload: 0.5 } as NodeMessage);
    assert.equal(caughtError(await caught).code, "invalidOption");
  });
});
