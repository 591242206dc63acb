/**
 * The detector's "Part id in" picker: a later operator verdict (msg.confirm) finds its inspection
 * by the part id read from the message property the editor names, e.g. where a PLC trigger put it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Node, NodeAPI, NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { catalogTranslator } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import { catchAll, caughtError, collectMessages, getNode, helper, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const TYPE = "defect-detector";
const SIZE = 64;
const TRAIN = 4;
const WAIT_MS = 15_000;
const translate = catalogTranslator("detector");
const node = (RED: NodeAPI): void => {
  (RED as unknown as { _: typeof translate })._ = translate;
  detectorNode(RED);
};
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });

async function tensorMsg(image: RawImage, extra: Record<string, unknown> = {}): Promise<NodeMessage> {
  const { tensor, transform } = await preprocessImage(await encodePng(image), OPTIONS, { maxPixels: 1e8 });
  return { payload: tensor, transform, preprocessing: { ...OPTIONS }, ...extra } as NodeMessage;
}

describe("defect-detector: part id from a chosen message property", function () {
  this.timeout(60_000);
  useNodeRedHelper();
  let dir = "";
  let backbone = "";
  const det = (): Node => getNode("det");

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-part-id-"));
    backbone = await writeTinyBackbone(dir);
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(config: Partial<DetectorNodeDef>): Promise<void> {
    const item: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, wires: [["out"]], backbone, layers: "l1,l2", trainCount: String(TRAIN), ...config };
    await helper.load(node, onTab([item, { id: "out", type: "helper" }, ...catchAll()]));
    const outs = collectMessages(getNode("out"), TRAIN, WAIT_MS);
    for (const seed of [1, 2, 3, 4]) det().receive(await tensorMsg(generateGood("cast-surface", seed, 96), { learn: true }));
    await outs;
  }

  async function send(msg: NodeMessage): Promise<Record<string, unknown>> {
    const out = nextMessage(getNode("out"), WAIT_MS);
    det().receive(msg);
    return (await out).payload as Record<string, unknown>;
  }

  it("remembers inspections under msg.<property> and confirms them by it", async function () {
    await load({ partIdProperty: "plc.serial" });
    await send(await tensorMsg(generateGood("cast-surface", 100, 96), { plc: { serial: 4711 }, partId: "ignored" }));
    const answer = await send({ confirm: "good", plc: { serial: "4711" } } as NodeMessage);
    assert.equal(answer["confirmed"], "good");
    assert.equal(answer["partId"], "4711", "a numeric serial and its text name the same part");
    // msg.partId is not the chosen property here: the verdict names no part and, without an
    // image, cannot be learned.
    const caught = nextMessage(getNode("caught"), WAIT_MS);
    det().receive({ confirm: "good", partId: "ignored" } as NodeMessage);
    assert.equal(caughtError(await caught).code, "noTensorInput");
  });

  it("names the chosen property when its value is no part id", async function () {
    await load({ partIdProperty: "plc.serial" });
    const caught = nextMessage(getNode("caught"), WAIT_MS);
    det().receive({ confirm: "good", plc: { serial: { nested: true } } } as NodeMessage);
    const error = caughtError(await caught);
    assert.deepEqual([error.code, error.message], ["invalidOption", 'Error: Invalid msg.plc.serial: {"nested":true}']);
  });
});
