/**
 * defect-detector with a reconstruction model (an autoencoder, task "reconstruction") in a flow: the
 * error map goes out on msg.anomalyMap like any anomaly map, so a threshold node wired after it gives
 * the verdict and the defect mask; under task "auto" the same model is refused as ambiguous. The
 * model zeroes a known rectangle of its input, so every expected score and pixel is known by hand.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Node, NodeAPI, NodeMessage } from "node-red";
import type { SinonSpy } from "sinon";
import type { MessageScoreMap, Transform } from "../../src/lib/image/types";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import thresholdNode from "../../src/nodes/threshold";
import type { ThresholdNodeDef } from "../../src/nodes/threshold-def";
import { constantTensor } from "../fixtures/anomalib-models";
import { catalogTranslator } from "../fixtures/catalog";
import { catchAll, caughtError, getNode, helper, nextMessage, onTab, useNodeRedHelper, waitForStatus, type FlowItem } from "../fixtures/node-red";
import { identityAutoencoder, inRect, maskingAutoencoder } from "../fixtures/reconstruction-models";

const TYPE = "defect-detector";
const SIZE = 8;
/** The autoencoder zeroes this rectangle; a tensor of 0.5 everywhere then errs by 0.5² = 0.25 there. */
const RECT = { x0: 2, x1: 5, y0: 1, y1: 3 };
const VALUE = 0.5;
const INSIDE = VALUE * VALUE;
const AREA = (RECT.x1 - RECT.x0) * (RECT.y1 - RECT.y0);
const THRESHOLD = 0.1;
const CLOSE = 1e-6;

const translate = catalogTranslator("detector");
const node = (RED: NodeAPI): void => {
  (RED as unknown as { _: typeof translate })._ = translate;
  detectorNode(RED);
};

interface Verdict {
  verdict: string;
  score: number;
  threshold: number;
  mode: string;
}

interface Mask {
  data: Uint8Array;
  width: number;
  height: number;
  space: string;
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= CLOSE, `${what}: ${actual} vs ${expected}`);
}

function logLines(target: Node): string[] {
  const spy = target.log as unknown as SinonSpy<[unknown], void>;
  return spy
    .getCalls()
    .filter((call) => call.thisValue === target)
    .map((call) => String(call.args[0]));
}

describe("defect-detector node with a reconstruction model", function () {
  this.timeout(30_000);
  useNodeRedHelper();
  let dir = "";
  let masking = "";
  let identity = "";

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-reconstruction-node-"));
    masking = join(dir, "masking-ae.onnx");
    identity = join(dir, "identity-ae.onnx");
    await writeFile(masking, maskingAutoencoder(SIZE, 3, RECT));
    await writeFile(identity, identityAutoencoder({ shape: [1, 3, SIZE, SIZE] }));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  /** detector -> threshold (fixed) -> helper "judged"; the detector's own output also goes to helper "scored". */
  async function load(config: Partial<DetectorNodeDef>): Promise<void> {
    const det: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, setting: "supervised", method: "onnx", wires: [["thr", "scored"]], ...config };
    const thr: FlowItem<ThresholdNodeDef> = { id: "thr", type: "defect-threshold", mode: "fixed", threshold: String(THRESHOLD), wires: [["judged"]] };
    await helper.load([node, thresholdNode], onTab([det, thr, { id: "scored", type: "helper" }, { id: "judged", type: "helper" }, ...catchAll()]));
  }

  async function inspect(msg: NodeMessage): Promise<{ scored: NodeMessage; judged: NodeMessage }> {
    const scored = nextMessage(getNode("scored"));
    const judged = nextMessage(getNode("judged"));
    getNode("det").receive(msg);
    return { scored: await scored, judged: await judged };
  }

  it("sends the error map and its maximum, which a threshold node turns into a verdict and the zeroed rectangle", async function () {
    await load({ modelFile: masking, task: "reconstruction", mapSize: "model" });
    await waitForStatus(getNode("det"), `${TYPE}.status.ready`);
    assert.ok(
      logLines(getNode("det")).includes(
        "model masking-ae.onnx: reconstruction (reconstruction), no classes; suggested preprocessing 8x8 stretch, RGB NCHW, values 0..1",
      ),
      logLines(getNode("det")).join("\n"),
    );
    const { scored, judged } = await inspect({ payload: constantTensor(SIZE, VALUE), topic: "part-1" });
    const payload = scored.payload as Record<string, unknown>;
    near(payload["score"] as number, INSIDE, "score");
    assert.deepEqual(
      { ...payload, score: 0 },
      { score: 0, method: "onnx", task: "reconstruction", classes: [], boxes: [], model: { file: "masking-ae.onnx", task: "reconstruction", classes: 0 } },
    );
    const map = scored["anomalyMap"] as MessageScoreMap;
    assert.deepEqual([map.width, map.height, map.space], [SIZE, SIZE, "model"]);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) near(map.data[y * SIZE + x]!, inRect(RECT, x, y) ? INSIDE : 0, `pixel ${x},${y}`);
    const verdict = judged.payload as Verdict;
    assert.deepEqual([verdict.verdict, verdict.threshold, verdict.mode], ["NG", THRESHOLD, "fixed"]);
    near(verdict.score, INSIDE, "verdict score");
    const mask = judged["mask"] as Mask;
    assert.deepEqual([mask.width, mask.height, mask.space], [SIZE, SIZE, "model"]);
    assert.deepEqual(
      [...mask.data],
      Array.from({ length: SIZE * SIZE }, (_, i) => (inRect(RECT, i % SIZE, Math.floor(i / SIZE)) ? 1 : 0)),
    );
    assert.equal(judged.topic, "part-1");
  });

  it("a perfect reconstruction is OK with an empty mask", async function () {
    await load({ modelFile: identity, task: "reconstruction", mapSize: "model" });
    const { judged } = await inspect({ payload: constantTensor(SIZE, VALUE) });
    assert.deepEqual([(judged.payload as Verdict).verdict, (judged.payload as Verdict).score], ["OK", 0]);
    assert.ok((judged["mask"] as Mask).data.every((v) => v === 0));
  });

  it("scores by the mean with Score mean, and maps the map onto the original image through msg.transform", async function () {
    await load({ modelFile: masking, task: "reconstruction", reconstructionScore: "mean" });
    const transform: Transform = {
      source: { width: 16, height: 16 },
      roi: { x: 0, y: 0, width: 16, height: 16 },
      scaleX: 0.5,
      scaleY: 0.5,
      offsetX: 0,
      offsetY: 0,
      width: SIZE,
      height: SIZE,
    };
    const { scored, judged } = await inspect({ payload: constantTensor(SIZE, VALUE), transform });
    near((scored.payload as { score: number }).score, (INSIDE * AREA) / (SIZE * SIZE), "mean score");
    const map = scored["anomalyMap"] as MessageScoreMap;
    assert.deepEqual([map.width, map.height, map.space], [16, 16, "original"]);
    // Original pixel (7, 3) lies at tensor (3.25, 1.25): every neighbour it is interpolated from is inside.
    near(map.data[3 * 16 + 7]!, INSIDE, "inside");
    near(map.data[15 * 16 + 15]!, 0, "outside");
    // The mean is below the threshold, the map is not: the part passes while its mask shows the rectangle.
    const mask = judged["mask"] as Mask;
    assert.deepEqual([(judged.payload as Verdict).verdict, mask.space, mask.data[3 * 16 + 7], mask.data[15 * 16 + 15]], ["OK", "original", 1, 0]);
  });

  it("refuses the same model under task auto, naming both readings and the Task that decides", async function () {
    await load({ modelFile: masking });
    const caught = nextMessage(getNode("caught"));
    getNode("det").receive({ payload: constantTensor(SIZE, VALUE) });
    const error = caughtError(await caught);
    assert.equal(error.code, "unknownModelFormat");
    assert.ok(error.message.includes("may be an autoencoder") && error.message.includes('set the task to "reconstruction" or "semantic"'), error.message);
  });
});
