/**
 * The scale-out nodes in Node-RED, without a broker: part wire turns an image into the MQTT
 * fields core mqtt out publishes and a delivered part back into an image message, and a verdict
 * into a result; the collector passes parts on, passes the first result of each part only,
 * publishes a late part again and reports a lost one through Catch; model share refuses what it
 * cannot use. Every bad configuration and bad message reaches Catch with its code.
 */
import assert from "node:assert/strict";
import type { NodeAPI, NodeMessage } from "node-red";
import collectorNode from "../../src/nodes/part-collector";
import modelShareNode from "../../src/nodes/model-share";
import partWireNode from "../../src/nodes/part-wire";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng, makeImage } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  expectNoMessage,
  getNode,
  helper,
  nextMessage,
  onTab,
  useNodeRedHelper,
  type FlowItem,
} from "../fixtures/node-red";

const translate = catalogTranslator("part-wire", "part-collector", "model-share");
const nodes = [partWireNode, collectorNode, modelShareNode].map((register) => withCatalog(register as (RED: NodeAPI) => void, translate));
const QUIET_MS = 300;

const record = { id: 9, station: "t1", partId: "P-1", jobId: null, recipe: null, created: "2026-12-06T10:00:00.000Z", verdict: "NG", score: 0.9, regions: [] };

/** Flow items with the nodes' own settings (FlowItem knows only the common keys). */
async function load(items: Array<Record<string, unknown> & { id: string; type: string }>): Promise<void> {
  await helper.load(nodes, onTab([...(items as FlowItem[]), ...catchAll()]));
}

async function expectCaught(id: string, msg: NodeMessage, code: string, message?: RegExp): Promise<NodeMessage> {
  const caught = nextMessage(getNode("caught"));
  getNode(id).receive(msg);
  const got = await caught;
  assert.equal(caughtError(got).code, code, caughtError(got).message);
  if (message !== undefined) assert.match(caughtError(got).message, message);
  return got;
}

describe("scale-out nodes", function () {
  useNodeRedHelper();
  let png: Buffer;

  before(async function () {
    png = await encodePng(makeImage(8, 8, 3, (x, y) => (x + y) * 10));
  });

  describe("defect-part-wire", function () {
    it("makes a part of an image for mqtt out and an image message of a delivered part, ids and bytes unchanged", async function () {
      await load([
        { id: "out", type: "defect-part-wire", mode: "part-out", topic: "parts/line1", wires: [["wire"]] },
        { id: "wire", type: "helper" },
        { id: "in", type: "defect-part-wire", mode: "part-in", wires: [["worker"]] },
        { id: "worker", type: "helper" },
      ]);
      const sent = nextMessage(getNode("wire"));
      getNode("out").receive({ payload: png, image: { buffer: png, format: "png" }, partId: 42, recipe: "R7" } as NodeMessage);
      const part = (await sent) as NodeMessage & Record<string, unknown>;
      assert.equal(part.payload, png);
      assert.equal(part.topic, "parts/line1");
      assert.equal(part["contentType"], "image/png");
      assert.equal(part["qos"], 1);
      const props = part["userProperties"] as Record<string, string>;
      assert.deepEqual([props["dd-format"], props["dd-part"], props["dd-recipe"], props["dd-attempt"]], ["defect-part/1", "42", "R7", "1"]);
      // What core mqtt in delivers from it: the payload Buffer and the v5 properties.
      const received = nextMessage(getNode("worker"));
      getNode("in").receive({ topic: "parts/line1", payload: Buffer.from(png), contentType: "image/png", userProperties: props } as NodeMessage);
      const image = (await received) as NodeMessage & Record<string, unknown>;
      assert.deepEqual(image.payload, png);
      assert.equal(image["partId"], "42");
      assert.equal(image["recipe"], "R7");
      assert.equal(image["userProperties"], undefined, "the part's properties do not travel on into the result");
      assert.deepEqual({ ...(image["part"] as object), captured: "" }, { id: "42", attempt: 1, captured: "", contentType: "image/png" });
    });

    it("makes a JSON result of a verdict, and lets learning answers pass unpublished", async function () {
      await load([
        { id: "res", type: "defect-part-wire", mode: "result-out", topic: "results/line1", worker: "cam-box-2", wires: [["wire"]] },
        { id: "wire", type: "helper" },
      ]);
      const sent = nextMessage(getNode("wire"));
      getNode("res").receive({ payload: { verdict: "NG" }, result: record, part: { id: "P-1", attempt: 2 } } as NodeMessage);
      const out = (await sent) as NodeMessage & Record<string, unknown>;
      assert.equal(out.topic, "results/line1");
      assert.deepEqual(JSON.parse(out.payload as string), { format: "defect-result", version: 1, partId: "P-1", attempt: 2, worker: "cam-box-2", record });
      const quiet = expectNoMessage(getNode("wire"), QUIET_MS);
      getNode("res").receive({ payload: { learning: true, count: 1, total: 1 } });
      await quiet;
    });

    it("refuses a message without image, a delivery that is no part, a verdict without record, and a bad configuration", async function () {
      await load([
        { id: "out", type: "defect-part-wire", mode: "part-out", wires: [[]] },
        { id: "in", type: "defect-part-wire", mode: "part-in", wires: [[]] },
        { id: "res", type: "defect-part-wire", mode: "result-out", wires: [[]] },
        { id: "badMode", type: "defect-part-wire", mode: "sideways", wires: [[]] },
        { id: "badTopic", type: "defect-part-wire", mode: "part-out", topic: "parts/#", wires: [[]] },
      ]);
      await expectCaught("out", { payload: 12 } as NodeMessage, "noImageInput", /got number/);
      await expectCaught("out", { payload: png, partId: { x: 1 } } as NodeMessage, "invalidOption", /msg\.partId/);
      await expectCaught("in", { payload: png } as NodeMessage, "wireFormatInvalid", /MQTT v5/);
      await expectCaught("in", { payload: png, userProperties: { "dd-format": "defect-part/9", "dd-part": "a" } } as NodeMessage, "wireVersion", /version 9/);
      await expectCaught("res", { payload: { score: 0.3 } }, "noVerdictInput");
      await expectCaught("badMode", { payload: png }, "invalidOption", /mode/);
      await expectCaught("badTopic", { payload: png }, "invalidOption", /topic/);
    });
  });

  describe("defect-part-collector", function () {
    async function part(id: string): Promise<NodeMessage> {
      return {
        payload: png,
        topic: "parts/line1",
        contentType: "image/png",
        userProperties: { "dd-format": "defect-part/1", "dd-part": id, "dd-attempt": "1", "dd-captured": "" },
      } as NodeMessage;
    }
    function result(id: string, worker: string, attempt = 1): NodeMessage {
      return {
        topic: "results/line1",
        payload: JSON.stringify({ format: "defect-result", version: 1, partId: id, attempt, worker, record: { ...record, partId: id } }),
      };
    }

    it("passes parts on, the first result of each part once, and drops copies", async function () {
      await load([
        { id: "coll", type: "defect-part-collector", timeout: "30", retries: "1", wires: [["results"], ["parts"]] },
        { id: "results", type: "helper" },
        { id: "parts", type: "helper" },
      ]);
      const published = collectMessages(getNode("parts"), 2);
      getNode("coll").receive(await part("a"));
      getNode("coll").receive(await part("b"));
      assert.deepEqual(
        (await published).map((m) => (m as NodeMessage & { userProperties: Record<string, string> }).userProperties["dd-part"]),
        ["a", "b"],
      );
      const first = collectMessages(getNode("results"), 2);
      getNode("coll").receive(result("a", "w1"));
      getNode("coll").receive(result("a", "w2", 2));
      getNode("coll").receive(result("b", "w2"));
      const got = (await first) as Array<NodeMessage & Record<string, unknown>>;
      assert.deepEqual(
        got.map((m) => m.payload),
        [
          { partId: "a", verdict: "NG", score: 0.9, worker: "w1", attempt: 1 },
          { partId: "b", verdict: "NG", score: 0.9, worker: "w2", attempt: 1 },
        ],
      );
      assert.deepEqual(got[0]!["result"], { ...record, partId: "a" }, "the worker's record, as its threshold made it");
      await expectNoMessage(getNode("results"), QUIET_MS);
    });

    it("publishes a part without result again, then reports it lost through Catch with its part id", async function () {
      await load([
        { id: "coll", type: "defect-part-collector", timeout: "0.1", retries: "1", wires: [["results"], ["parts"]] },
        { id: "results", type: "helper" },
        { id: "parts", type: "helper" },
      ]);
      const published = collectMessages(getNode("parts"), 2);
      const caught = nextMessage(getNode("caught"));
      getNode("coll").receive(await part("late"));
      const [firstCopy, again] = (await published) as Array<NodeMessage & { userProperties: Record<string, string> }>;
      assert.equal(firstCopy!.userProperties["dd-attempt"], "1");
      assert.equal(again!.userProperties["dd-attempt"], "2");
      assert.equal(again!.topic, "parts/line1", "published again where the first publication went");
      assert.deepEqual(again!.payload, png);
      const lost = await caught;
      assert.equal(caughtError(lost).code, "partLost");
      assert.match(caughtError(lost).message, /Part late lost: no result after 2 publication/);
      assert.equal((lost as NodeMessage & { partId: string }).partId, "late");
      // Its result arriving after all is no second ending.
      const quiet = expectNoMessage(getNode("results"), QUIET_MS);
      getNode("coll").receive(result("late", "w1"));
      await quiet;
    });

    it("refuses a reused part id, a message that is neither part nor result, and a bad configuration", async function () {
      await load([
        { id: "coll", type: "defect-part-collector", wires: [[], []] },
        { id: "badTimeout", type: "defect-part-collector", timeout: "0", wires: [[], []] },
        { id: "badRetries", type: "defect-part-collector", retries: "99", wires: [[], []] },
      ]);
      getNode("coll").receive(await part("x"));
      await expectCaught("coll", await part("x"), "partIdReused", /part id x/);
      await expectCaught("coll", { payload: "hello" }, "wireFormatInvalid", /not JSON/);
      await expectCaught("badTimeout", await part("y"), "invalidOption", /timeout/);
      await expectCaught("badRetries", await part("y"), "invalidOption", /retries/);
    });
  });

  describe("defect-model-share", function () {
    it("refuses a corrupt model on its status output and through Catch, and a share without detector", async function () {
      await load([
        { id: "recv", type: "defect-model-share", mode: "receive", detector: "nowhere", worker: "w9", wires: [["status"], ["subscribe"]] },
        { id: "status", type: "helper" },
        { id: "subscribe", type: "helper" },
        { id: "noDetector", type: "defect-model-share", mode: "publish", detector: "", wires: [[], []] },
        { id: "sharer", type: "defect-model-share", mode: "publish", detector: "nothingSaved", wires: [[], []] },
      ]);
      const answer = nextMessage(getNode("status"));
      const quiet = expectNoMessage(getNode("subscribe"), QUIET_MS);
      await expectCaught("recv", { payload: Buffer.from("DDMODEL\0 but not really a model") } as NodeMessage, "modelFileInvalid", /truncated|checksum/);
      const status = (await answer).payload as Record<string, unknown>;
      assert.equal(status["state"], "refused");
      assert.equal(status["worker"], "w9");
      assert.equal((status["error"] as Record<string, unknown>)["code"], "modelFileInvalid");
      await quiet;
      await expectCaught("noDetector", { payload: { command: "fit" } }, "invalidOption", /detector/);
      await expectCaught("sharer", { command: "publish" } as NodeMessage, "fileNotFound", /Nothing to publish/);
    });
  });
});
