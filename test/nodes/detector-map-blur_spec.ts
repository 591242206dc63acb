/**
 * The anomaly map's blur as a user sees it: with an ONNX backbone, learning from good parts, a
 * detector blurs its map with sigma 2 (setting-presets.ts SHARP_MAP_SIGMA) and records it with the
 * model; a model saved before that choice (its record says 4) keeps its smoother map and its scores
 * after a redeploy, so the threshold calibrated on them still holds.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions } from "../../src/lib/image";
import { parseModelFile, writeModelFile } from "../../src/lib/persist";
import { generateGood, paintDefect } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { answerOf, learnOn, sideBySide, SIDE_WAIT_MS } from "../fixtures/detectors-side-by-side";
import { caughtError, getNode, helper, nextMessage, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { prepareImage, preparedMessage, type Prepared } from "../fixtures/prepared";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: 64, height: 64 });
const TRAIN = 8;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

interface Inspected {
  score: number;
  map: Float32Array;
  width: number;
}

/** Mean absolute step between neighbouring pixels of a row, over the map's range: lower is smoother. */
function roughness({ map, width }: Inspected): number {
  let sum = 0;
  let steps = 0;
  for (let i = 0; i < map.length; i++) {
    if ((i + 1) % width === 0) continue;
    sum += Math.abs((map[i + 1] as number) - (map[i] as number));
    steps++;
  }
  const range = Math.max(...map) - Math.min(...map);
  return sum / steps / range;
}

describe("defect-detector node: the anomaly map's blur", function () {
  this.timeout(180_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let defective: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-blur-"));
    backbone = await writeTinyBackbone(dir);
    train = await Promise.all(Array.from({ length: TRAIN }, (_, i) => prepareImage(generateGood(KIND, i + 1, SOURCE_SIZE), OPTIONS)));
    defective = await prepareImage(paintDefect(generateGood(KIND, 50, SOURCE_SIZE), "spot", 3).image, OPTIONS);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const flow = (): FlowItem[] => sideBySide({ backbone, layers: "l1,l2", trainCount: String(TRAIN), mapSize: "model" }, { det: {} });
  const modelPath = (): string => join(userDir(), "defect-detection", "det.ddm");
  const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

  async function inspect(): Promise<Inspected> {
    const msg = (await answerOf("det", msgOf(defective))) as NodeMessage & { payload: { score: number }; anomalyMap: { data: Float32Array; width: number } };
    return { score: msg.payload.score, map: msg.anomalyMap.data, width: msg.anomalyMap.width };
  }

  /** Rewrites the saved model's recorded blur, as a file saved with another sigma would have it. */
  async function recordSigma(sigma: number): Promise<void> {
    const file = await parseModelFile(await readFile(modelPath()), "det.ddm");
    const options = file.metadata["options"] as Record<string, number>;
    await writeModelFile(modelPath(), { metadata: { ...file.metadata, options: { ...options, blurSigma: sigma } }, sections: file.sections });
  }

  it("blurs with sigma 2, records it with the model, and a model recorded with 4 keeps its smoother map after a redeploy", async function () {
    await helper.load(node, flow());
    await learnOn(
      "det",
      train.map((p) => msgOf(p, { learn: true })),
    );
    const saved = await parseModelFile(await readFile(modelPath()), "det.ddm");
    assert.equal((saved.metadata["options"] as Record<string, number>)["blurSigma"], 2, "the fit records its sigma");
    const sharp = await inspect();
    await helper.unload();

    await recordSigma(4);
    await helper.load(node, flow());
    const smooth = await inspect();
    await helper.unload();
    assert.ok(roughness(smooth) < roughness(sharp), `recorded 4: smoother map (${roughness(smooth)} against ${roughness(sharp)} at 2)`);
    assert.notEqual(smooth.score, sharp.score);

    await recordSigma(2);
    await helper.load(node, flow());
    const again = await inspect();
    await helper.unload();
    assert.ok(Math.abs(again.score - sharp.score) < 1e-6 * Math.max(1, sharp.score), `recorded 2 again: ${again.score}, first ${sharp.score}`);
  });

  it("refuses a model file whose recorded blur is out of range, with the reason", async function () {
    await helper.load(node, flow());
    await learnOn(
      "det",
      train.map((p) => msgOf(p, { learn: true })),
    );
    await helper.unload();
    await recordSigma(-1);
    await helper.load(node, flow());
    const caught = nextMessage(getNode("caught"), SIDE_WAIT_MS);
    getNode("det").receive(msgOf(defective));
    const error = caughtError(await caught);
    await helper.unload();
    assert.equal(error.code, "modelFileInvalid");
    assert.match(error.message, /det\.ddm cannot be used: the recorded map blur \(blurSigma -1\) is not from 0 to 64\. It is kept/);
  });
});
