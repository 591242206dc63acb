/**
 * Example 10 (two-camera part) as a user runs it: its camera stand-ins (function nodes),
 * threshold nodes, join views and Catch loaded from the example file, the debug nodes replaced by
 * helpers. What each button sends (a part id and a score per camera) is sent to the camera nodes
 * directly, with part ids of the test's own, so two presses in one millisecond cannot share one.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import joinViewsNode from "../../src/nodes/join-views";
import thresholdNode from "../../src/nodes/threshold";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { nodeNamed } from "../fixtures/example-line";
import { caughtError, getNode, helper, loadCoreNode, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const EXAMPLE = join(process.cwd(), "examples", "10 - Two-camera part.json");
/** The example's timeout is 2 s: room for it on a loaded machine. */
const MISSING_WAIT_MS = 10_000;

type ExampleNode = FlowItem & { name?: string; props?: Array<{ p: string; v: string; vt: string }>; timeout?: string };
interface Joined {
  verdict: string;
  partId: string;
  ngViews: string[];
  missing: string[];
  views: Array<{ view: string; verdict: string }>;
}

describe("example 10 - Two-camera part", function () {
  this.timeout(30_000);
  useNodeRedHelper();
  const flow = JSON.parse(readFileSync(EXAMPLE, "utf8")) as ExampleNode[];
  const byName = (name: string): ExampleNode => nodeNamed(flow, name, "10");
  const scores = (button: string): Record<string, number> =>
    Object.fromEntries((byName(button).props ?? []).filter((p) => p.vt === "num").map((p) => [p.p, Number(p.v)]));

  it("gives one verdict per part: OK, NG naming the side view, and UNCERTAIN with missingView at Catch when a camera is silent", async function () {
    const kept = flow.filter((n) => !["tab", "comment", "inject"].includes(n.type)).map((n) => (n.type === "debug" ? { id: n.id, type: "helper" } : n));
    const fn = await loadCoreNode("function/10-function.js");
    const translate = catalogTranslator("threshold", "join-views");
    await helper.load([fn, withCatalog(thresholdNode, translate), withCatalog(joinViewsNode, translate)], onTab(kept));
    const verdicts = getNode(byName("part verdict").id);
    const errors = getNode(byName("error").id);
    const press = (button: string, partId: string): void => {
      for (const camera of ["top camera", "side camera"]) getNode(byName(camera).id).receive({ ...scores(button), partId });
    };

    let out = nextMessage(verdicts);
    press("part OK", "A");
    assert.deepEqual(JSON.parse(JSON.stringify((await out).payload)) as Joined, {
      verdict: "OK",
      score: 0.3,
      partId: "A",
      views: [
        { view: "top", verdict: "OK", score: 0.2, regionCount: null },
        { view: "side", verdict: "OK", score: 0.3, regionCount: null },
      ],
      ngViews: [],
      missing: [],
    });

    out = nextMessage(verdicts);
    press("defect on the side", "B");
    const ng = (await out).payload as Joined;
    assert.equal(ng.verdict, "NG");
    assert.deepEqual(ng.ngViews, ["side"]);

    out = nextMessage(verdicts, MISSING_WAIT_MS);
    const caught = nextMessage(errors, MISSING_WAIT_MS);
    press("side camera silent", "C");
    const silent = (await out).payload as Joined;
    assert.equal(silent.verdict, "UNCERTAIN");
    assert.deepEqual(silent.missing, ["side"]);
    const error = caughtError(await caught);
    assert.equal(error.code, "missingView");
    assert.match(error.message, /Part "C" judged UNCERTAIN without view\(s\) side/);
  });
});
