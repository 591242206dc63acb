/**
 * defect-join-views in Node-RED. Two views of each part go through real threshold nodes (and
 * mask to region for the regions) into the join node, as a two-camera station wires them: one
 * verdict per part naming the defective view, the result ids of each view and the joined record
 * numbered by the join node. Then a missing view (Catch gets missingView, the part goes out
 * UNCERTAIN), the open-part bound, duplicate, late and unknown views, a message without part id,
 * answers passed on, the status, an invalid configuration and what closing leaves behind.
 */
import assert from "node:assert/strict";
import type { NodeMessage } from "node-red";
import type { JoinedResultRecord } from "../../src/lib/message";
import joinViewsNode from "../../src/nodes/join-views";
import type { JoinViewsNodeDef } from "../../src/nodes/join-views-def";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import {
  catalogKeys,
  catchAll,
  caughtError,
  collectMessages,
  editorDefaultKeys,
  editorI18nKeys,
  expectNoMessage,
  getNode,
  helper,
  nextMessage,
  onTab,
  useNodeRedHelper,
  waitForStatus,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-join-views";
const translate = catalogTranslator("threshold", "mask-to-region", "join-views");
const nodes = [withCatalog(thresholdNode, translate), withCatalog(maskToRegionNode, translate), withCatalog(joinViewsNode, translate)];
/** Long enough for the node to have sent anything it was going to. */
const QUIET_MS = 200;
/** A timeout short enough for a test, long enough that both views of a part sent together arrive within it. */
const SHORT_TIMEOUT = "300";

interface JoinedPayload {
  verdict: string;
  score: number | null;
  partId: string;
  views: Array<{ view: string; verdict: string; score: number | null; regionCount: number | null }>;
  ngViews: string[];
  missing: string[];
  regionCount?: number;
}

/** A 4x4 anomaly map, all 0.1 but for a 2x2 block of `peak` at (1, 1). */
function anomalyMap(peak: number): { data: number[]; width: number; height: number; space: string } {
  const data = Array.from({ length: 16 }, (_, i) => ([5, 6, 9, 10].includes(i) ? peak : 0.1));
  return { data, width: 4, height: 4, space: "original" };
}

describe("defect-join-views node", function () {
  this.timeout(20_000);
  useNodeRedHelper();

  /** A branch per view: threshold (fixed 0.5) -> mask to region -> join. */
  function twoCameraFlow(join: Partial<JoinViewsNodeDef> = {}): FlowItem[] {
    const threshold = (id: string, next: string): FlowItem<ThresholdNodeDef> => ({
      id,
      type: "defect-threshold",
      mode: "fixed",
      threshold: "0.5",
      wires: [[next]],
    });
    const regions = (id: string): FlowItem<MaskToRegionNodeDef> => ({ id, type: "defect-mask-to-region", overlay: "none", minArea: "1", wires: [["join"]] });
    return onTab([
      threshold("thr-top", "reg-top"),
      threshold("thr-side", "reg-side"),
      regions("reg-top"),
      regions("reg-side"),
      { id: "join", type: TYPE, views: "top,side", ...join, wires: [["out"]] } as FlowItem<JoinViewsNodeDef>,
      { id: "out", type: "helper" },
      ...catchAll(),
    ]);
  }

  /** A camera's inspection as the detector hands it to its threshold node: a score, a map and the part id. */
  function shot(view: string, partId: string, score: number): NodeMessage {
    return { _msgid: `${partId}-${view}`, payload: { score, method: "patchcore" }, anomalyMap: anomalyMap(score), partId, view } as NodeMessage;
  }

  const join = () => getNode("join");

  it("sends one NG verdict per part naming the defective view, with each view's result id and regions, numbered by the join node", async function () {
    await helper.load(nodes, twoCameraFlow());
    const out = collectMessages(getNode("out"), 2);
    getNode("thr-top").receive(shot("top", "P-1", 0.2));
    getNode("thr-side").receive(shot("side", "P-1", 0.8));
    getNode("thr-side").receive(shot("side", "P-2", 0.1));
    getNode("thr-top").receive(shot("top", "P-2", 0.3));
    const [first, second] = await out;
    await expectNoMessage(getNode("out"), QUIET_MS);
    assert.ok(first && second);

    const ng = first.payload as JoinedPayload;
    assert.equal(ng.verdict, "NG");
    assert.equal(ng.partId, "P-1");
    assert.equal(ng.score, 0.8);
    assert.deepEqual(ng.ngViews, ["side"]);
    assert.deepEqual(ng.missing, []);
    assert.deepEqual(
      ng.views.map((v) => [v.view, v.verdict, v.score, v.regionCount]),
      [
        ["top", "OK", 0.2, 0],
        ["side", "NG", 0.8, 1],
      ],
    );
    assert.equal(ng.regionCount, 1);
    const record = first["result"] as JoinedResultRecord;
    assert.equal(record.station, "join");
    assert.equal(record.id, 1);
    assert.equal(record.partId, "P-1");
    assert.equal(record.verdict, "NG");
    assert.deepEqual(
      record.views.map((v) => [v.view, v.station, v.resultId, v.verdict]),
      [
        ["top", "thr-top", 1, "OK"],
        ["side", "thr-side", 1, "NG"],
      ],
    );
    assert.deepEqual(
      record.views.map((v) => Object.keys(v).sort()),
      [0, 1].map(() => ["regions", "resultId", "score", "station", "verdict", "view"]),
      "each view lists what the contract names, nothing more",
    );
    // The 2x2 block above the threshold, in the side camera's pixels, named by its view.
    assert.deepEqual(
      record.regions?.map((r) => [r.view, r.x, r.y, r.width, r.height, r.area]),
      [["side", 1, 1, 2, 2, 4]],
    );
    assert.deepEqual(first["regions"], record.regions);
    assert.equal(typeof record.times.thresholdMs, "number");

    const ok = second.payload as JoinedPayload;
    assert.equal(ok.verdict, "OK");
    assert.equal(ok.partId, "P-2");
    assert.deepEqual(ok.ngViews, []);
    assert.equal((second["result"] as JoinedResultRecord).id, 2);
    assert.deepEqual(
      (second["result"] as JoinedResultRecord).views.map((v) => [v.view, v.resultId]),
      [
        ["top", 2],
        ["side", 2],
      ],
    );
  });

  it("reports a view missing after the timeout at Catch (missingView naming part and view) and sends the part UNCERTAIN", async function () {
    await helper.load(nodes, twoCameraFlow({ timeout: SHORT_TIMEOUT }));
    const caught = nextMessage(getNode("caught"));
    const out = nextMessage(getNode("out"));
    getNode("thr-top").receive(shot("top", "P-9", 0.2));
    const [error, verdict] = await Promise.all([caught, out]);
    assert.equal(caughtError(error).code, "missingView");
    assert.match(caughtError(error).message, /Part "P-9" judged UNCERTAIN without view\(s\) side: .*within 300 ms.*\(arrived: top\)/);
    assert.equal((error.payload as JoinedPayload).verdict, "UNCERTAIN", "Catch sees the part's verdict too");
    const payload = verdict.payload as JoinedPayload;
    assert.equal(payload.verdict, "UNCERTAIN");
    assert.deepEqual(payload.missing, ["side"]);
    assert.deepEqual((verdict["result"] as JoinedResultRecord).missing, ["side"]);
    await waitForStatus(join(), /^UNCERTAIN: missing side \d\d:\d\d:\d\d · 0 open$/);

    // The side camera, late: refused, and no second verdict for P-9.
    const late = nextMessage(getNode("caught"));
    getNode("thr-side").receive(shot("side", "P-9", 0.2));
    assert.equal(caughtError(await late).code, "lateView");
    await expectNoMessage(getNode("out"), QUIET_MS);
  });

  it("sends a part with a missing view NG when a view that arrived is NG", async function () {
    await helper.load(nodes, twoCameraFlow({ timeout: SHORT_TIMEOUT }));
    const out = nextMessage(getNode("out"));
    const caught = nextMessage(getNode("caught"));
    getNode("thr-side").receive(shot("side", "P-3", 0.9));
    assert.equal((await out).payload && ((await out).payload as JoinedPayload).verdict, "NG");
    assert.equal(caughtError(await caught).code, "missingView");
  });

  it("judges the oldest waiting part when more than Max open wait", async function () {
    await helper.load(nodes, twoCameraFlow({ maxParts: "1" }));
    const out = nextMessage(getNode("out"));
    const caught = nextMessage(getNode("caught"));
    getNode("thr-top").receive(shot("top", "A", 0.1));
    getNode("thr-top").receive(shot("top", "B", 0.1));
    const evicted = await out;
    assert.equal((evicted.payload as JoinedPayload).partId, "A");
    assert.equal((evicted.payload as JoinedPayload).verdict, "UNCERTAIN");
    assert.match(caughtError(await caught).message, /Part "A" .*more than 1 parts were waiting/);
    const next = nextMessage(getNode("out"));
    getNode("thr-side").receive(shot("side", "B", 0.1));
    assert.equal(((await next).payload as JoinedPayload).verdict, "OK");
  });

  describe("refuses without crashing, and Catch gets the message", function () {
    const verdictMsg = (extra: Record<string, unknown>): NodeMessage => ({ _msgid: "bad", payload: { verdict: "OK", score: 0.1 }, ...extra }) as NodeMessage;

    async function refused(msg: NodeMessage, code: string, pattern?: RegExp): Promise<void> {
      const caught = nextMessage(getNode("caught"));
      join().receive(msg);
      const error = await caught;
      assert.equal(caughtError(error).code, code, caughtError(error).message);
      if (pattern !== undefined) assert.match(caughtError(error).message, pattern);
      assert.equal(error._msgid, msg._msgid, "the refused message itself reaches Catch");
    }

    it("a view arriving twice for a part (the first is kept)", async function () {
      await helper.load(nodes, twoCameraFlow());
      join().receive(verdictMsg({ _msgid: "first", partId: "P", view: "top", payload: { verdict: "NG", score: 0.9 } }));
      await refused(verdictMsg({ partId: "P", view: "top" }), "duplicateView", /View "top" of part "P" arrived twice/);
      const out = nextMessage(getNode("out"));
      join().receive(verdictMsg({ partId: "P", view: "side" }));
      assert.equal(((await out).payload as JoinedPayload).verdict, "NG");
    });

    it("an unknown view, and a message naming none", async function () {
      await helper.load(nodes, twoCameraFlow());
      await refused(verdictMsg({ partId: "P", view: "bottom" }), "unknownView", /"bottom" is not one of the expected views top, side/);
      await refused(verdictMsg({ partId: "P" }), "unknownView", /names no view/);
    });

    it("a message without part id, and one without verdict", async function () {
      await helper.load(nodes, twoCameraFlow());
      await refused(verdictMsg({ view: "top" }), "noPartId", /View "top" has no part id/);
      await refused({ _msgid: "x", payload: 0.4, partId: "P", view: "top" } as NodeMessage, "noVerdictInput");
      await waitForStatus(join(), "defect-join-views.status.error");
    });

    it("takes msg.topic as the view when the View in property is absent", async function () {
      await helper.load(nodes, twoCameraFlow({ viewProperty: "camera.name" }));
      const out = nextMessage(getNode("out"));
      join().receive(verdictMsg({ partId: "T", topic: "top" }));
      join().receive(verdictMsg({ partId: "T", camera: { name: "side" }, topic: "ignored" }));
      assert.deepEqual(
        ((await out).payload as JoinedPayload).views.map((v) => v.view),
        ["top", "side"],
      );
    });
  });

  it("passes the branches' calibration answers on untouched", async function () {
    await helper.load(nodes, twoCameraFlow());
    const out = nextMessage(getNode("out"));
    join().receive({ payload: { calibrating: true, count: 1, total: 200, label: "good" } } as NodeMessage);
    assert.deepEqual((await out).payload, { calibrating: true, count: 1, total: 200, label: "good" });
  });

  it("shows the views it waits for, the open parts and the last verdict", async function () {
    await helper.load(nodes, twoCameraFlow());
    await waitForStatus(join(), "waiting for top, side · 0 open");
    const out = nextMessage(getNode("out"));
    getNode("thr-top").receive(shot("top", "S", 0.2));
    await waitForStatus(join(), "waiting for top, side · 1 open");
    getNode("thr-side").receive(shot("side", "S", 0.7));
    await out;
    await waitForStatus(join(), /^NG \(side\) \d\d:\d\d:\d\d · 0 open$/);
  });

  it("refuses an invalid configuration: red status, and each message reaches Catch with invalidOption", async function () {
    await helper.load(nodes, twoCameraFlow({ views: "top" }));
    await waitForStatus(join(), "defect-join-views.status.error");
    const caught = nextMessage(getNode("caught"));
    join().receive({ _msgid: "cfg", payload: { verdict: "OK" }, partId: "P", view: "top" } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "invalidOption");
    assert.match(error.message, /Invalid views/);
  });

  it("drops the parts still waiting when closed, names them in a warning, and sends nothing after", async function () {
    // Longer than the status takes to show the open part (it refreshes the count at most once a second).
    const timeout = 2000;
    await helper.load(nodes, twoCameraFlow({ timeout: String(timeout) }));
    const node = join();
    join().receive({ _msgid: "w", payload: { verdict: "OK", score: 0.1 }, partId: "W", view: "top" } as NodeMessage);
    await waitForStatus(node, "waiting for top, side · 1 open");
    const sent: unknown[] = [];
    const warnings: string[] = [];
    node.warn = (text: unknown) => void warnings.push(String(text));
    const originalSend = node.send.bind(node);
    node.send = (msg) => {
      sent.push(msg);
      originalSend(msg);
    };
    await helper.unload();
    assert.ok(
      warnings.some((text) => /1 part\(s\) still waiting for views were dropped when the node closed: W/.test(text)),
      "the dropped part is named in the log",
    );
    await new Promise((resolve) => setTimeout(resolve, timeout + QUIET_MS));
    assert.deepEqual(sent, [], "no timeout fired after close");
  });

  describe("catalog and editor", function () {
    const keys = catalogKeys("join-views");
    it("has a message for every error code and status the node uses", function () {
      for (const code of [
        "invalidOption",
        "noVerdictInput",
        "noPartId",
        "unknownView",
        "duplicateView",
        "lateView",
        "missingView",
        "resultIdsFailed",
        "unexpected",
      ]) {
        assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      }
      for (const state of ["ready", "verdict", "ng", "missing", "open", "error"]) assert.ok(keys.has(`${TYPE}.status.${state}`), state);
    });

    it("has every key the editor uses", function () {
      const used = editorI18nKeys("join-views");
      assert.ok(used.length > 10, `${used.length} keys`);
      for (const key of used) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of JoinViewsNodeDef", function () {
      const defined: EditorKeys<JoinViewsNodeDef> = { name: true, views: true, viewProperty: true, timeout: true, maxParts: true };
      assert.deepEqual(editorDefaultKeys("join-views").sort(), Object.keys(defined).sort());
    });
  });
});
