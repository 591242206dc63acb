/**
 * The detector's models run on worker threads: a worker killed in the middle of an inspection
 * sends that message to Catch, a new worker serves the next one, and closing the node stops
 * every worker it used.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import { sessionPool } from "../../src/lib/onnx";
import { generateDefect, generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { catalogTranslator, statusText, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  getNode,
  helper,
  nextMessage,
  onTab,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";
import { buildSlowTinyBackbone } from "../fixtures/slow-model";

const TYPE = "defect-detector";
const SIDE = 64;
/** A backbone run of a few hundred ms: long enough to kill its worker in the middle of it. */
const SLOW_ROWS = 100;
const WAIT_MS = 30_000;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: SIDE, height: SIDE });

const translate = catalogTranslator("detector");
const node = withCatalog(detectorNode, translate);
const status = statusText(TYPE, translate);

async function message(image: Parameters<typeof encodePng>[0], extra: Record<string, unknown> = {}): Promise<NodeMessage> {
  const { tensor, transform } = await preprocessImage(await encodePng(image), OPTIONS, { maxPixels: 1e8 });
  return { payload: tensor, transform, preprocessing: { ...OPTIONS }, ...extra };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("defect-detector on worker threads", function () {
  this.timeout(120_000);
  useNodeRedHelper();
  let dir = "";
  let backbone = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "defect-workers-"));
    backbone = join(dir, "slow-backbone.onnx");
    await writeFile(backbone, buildSlowTinyBackbone(SLOW_ROWS, SIDE));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("sends the inspection whose worker died to Catch, serves the next one, and leaves no worker after close", async function () {
    const workersBefore = sessionPool.live.length;
    const det: FlowItem<DetectorNodeDef> = {
      id: "det",
      type: TYPE,
      wires: [["out"]],
      backbone,
      layers: "l1,l2",
      trainCount: "2",
      augment: "off",
      workers: "1",
    };
    await helper.load(node, onTab([det, { id: "out", type: "helper" }, ...catchAll()]));
    const detector = getNode("det");
    const learned = collectMessages(getNode("out"), 2, WAIT_MS);
    for (const seed of [1, 2]) detector.receive(await message(generateGood("cast-surface", seed, 96), { learn: true }));
    await learned;
    await waitForStatus(detector, status("ready"));

    const caught = nextMessage(getNode("caught"), WAIT_MS);
    detector.receive({ ...(await message(generateDefect("cast-surface", "hole", 5, 96).image)), _msgid: "killed" });
    await until(() => sessionPool.live.some((w) => w.busy), "the inspection to reach a worker");
    await sessionPool.live.find((w) => w.busy)!.kill();
    const failed = await caught;
    assert.equal(failed._msgid, "killed", "the message in flight reaches Catch");
    assert.equal(caughtError(failed).code, "inferenceFailed");
    assert.match(caughtError(failed).message, /inference worker stopped unexpectedly/);

    const answer = nextMessage(getNode("out"), WAIT_MS);
    detector.receive(await message(generateGood("cast-surface", 9, 96)));
    const payload = (await answer).payload as { score: number };
    assert.ok(Number.isFinite(payload.score) && payload.score >= 0, JSON.stringify(payload));

    await helper.unload();
    await until(() => sessionPool.live.length === workersBefore, "the workers to stop after close");
  });
});
