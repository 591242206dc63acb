/**
 * Example 06 (dashboard) without a browser: its "to the dashboard" and "confirm the shown part"
 * functions, as the example file has them, fed by a threshold node and mask-to-region, so what
 * the dashboard's widgets receive comes from a real result record (msg.result). The widgets
 * themselves, and the whole example learning and inspecting, are driven in a browser by
 * test/e2e/editor_spec.ts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import { nodeNamed } from "../fixtures/example-line";
import { catchAll, collectMessages, getNode, helper, loadCoreNode, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const EXAMPLE = join(process.cwd(), "examples", "06 - Dashboard with heat map and confirm buttons.json");
const MODEL = { bankSize: 2048, trainedOn: 20, created: "2026-05-06T07:08:09.010Z", version: 3 };

type ExampleNode = FlowItem & { name?: string; func?: string; outputs?: number };

interface VerdictWidget {
  verdict: string;
  part: string;
  resultId: number;
  score: number;
  threshold: number;
  regions: number;
  created: string;
  times: string;
  model: string;
  calibration: string;
}

/** A 6 x 6 anomaly map, with one hot 2 x 2 spot (one region of 4 pixels) or none. */
function anomalyMap(spot: boolean): { data: number[]; width: number; height: number; space: string } {
  const data = new Array<number>(36).fill(0.1);
  if (spot) for (const i of [14, 15, 20, 21]) data[i] = 0.9;
  return { data, width: 6, height: 6, space: "original" };
}

describe("example 06 - Dashboard with heat map and confirm buttons (its functions)", function () {
  this.timeout(30_000);
  useNodeRedHelper();
  const flow = JSON.parse(readFileSync(EXAMPLE, "utf8")) as ExampleNode[];
  const byName = (name: string): ExampleNode => nodeNamed(flow, name, "06");

  it("shows each verdict's result record: its number, part, score, stage times, model and calibration; confirms the part shown", async function () {
    const toDashboard = byName("to the dashboard");
    const confirmShown = byName("confirm the shown part");
    assert.equal(toDashboard.outputs, 4);
    const fn = await loadCoreNode("function/10-function.js");
    await helper.load(
      [thresholdNode, maskToRegionNode, fn],
      onTab([
        { id: "thr", type: "defect-threshold", mode: "fixed", threshold: "0.5", wires: [["regions"]] } as FlowItem<ThresholdNodeDef>,
        { id: "regions", type: "defect-mask-to-region", minArea: "1", overlay: "none", wires: [[toDashboard.id]] } as FlowItem<MaskToRegionNodeDef>,
        { ...toDashboard, wires: [["image"], ["verdict"], ["table"], ["counts"]] },
        { ...confirmShown, wires: [["detector"]] },
        { id: "image", type: "helper" },
        { id: "verdict", type: "helper" },
        { id: "table", type: "helper" },
        { id: "counts", type: "helper" },
        { id: "detector", type: "helper" },
        ...catchAll(),
      ]),
    );

    // The detector's answer as the example's threshold gets it: file name as part id, stage times so far.
    const shown = collectMessages(getNode("verdict"), 2);
    const counts = collectMessages(getNode("counts"), 2);
    const table = nextMessage(getNode("table"));
    const errors: unknown[] = [];
    getNode("caught").on("input", (msg: NodeMessage) => errors.push(msg["error"]));
    getNode("thr").receive({
      payload: { score: 0.2, method: "patchcore", model: MODEL, partId: "part-001-good.png" },
      anomalyMap: anomalyMap(false),
      timings: { sourceMs: 2.4, preprocessMs: 11.6, detectorMs: 70.2 },
    } as NodeMessage);
    getNode("thr").receive({
      payload: { score: 0.9, method: "patchcore", model: MODEL, partId: "part-002-scratch.png" },
      anomalyMap: anomalyMap(true),
      timings: { sourceMs: 3, preprocessMs: 12, detectorMs: 69.8 },
    } as NodeMessage);
    const widgets = (await shown).map((m) => JSON.parse(JSON.stringify(m.payload)) as VerdictWidget);
    for (const w of widgets) {
      assert.match(w.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(w.times, /^source [23], preprocess 1[12], model 70, threshold \d+, regions \d+$/, w.times);
    }
    assert.deepEqual(
      widgets.map(({ created, times, ...rest }) => (void created, void times, rest)),
      [
        {
          verdict: "OK",
          part: "part-001-good.png",
          resultId: 1,
          score: 0.2,
          threshold: 0.5,
          regions: 0,
          model: "model of 2026-05-06T07:08:09.010Z, version 3",
          calibration: "fixed threshold",
        },
        {
          verdict: "NG",
          part: "part-002-scratch.png",
          resultId: 2,
          score: 0.9,
          threshold: 0.5,
          regions: 1,
          model: "model of 2026-05-06T07:08:09.010Z, version 3",
          calibration: "fixed threshold",
        },
      ],
    );
    assert.deepEqual(JSON.parse(JSON.stringify((await table).payload)), [], "the first part has no regions");
    assert.deepEqual((await counts).map((m) => JSON.parse(JSON.stringify(m.payload))).at(-1), { OK: 1, NG: 1, UNCERTAIN: 0 });

    // The operator's button names the part the dashboard shows now: the record's part id.
    const confirmation = nextMessage(getNode("detector"));
    getNode(confirmShown.id).receive({ payload: "defect", topic: "confirm" } as NodeMessage);
    const { confirm, partId } = (await confirmation) as NodeMessage & { confirm?: unknown; partId?: unknown };
    assert.deepEqual([confirm, partId], ["defect", "part-002-scratch.png"]);
    assert.deepEqual(errors, []);
  });
});
