/**
 * The patch neighbourhood (neighbourhood.ts), as a user sees it: three detectors learn the same good
 * parts, one at the default Neighbourhood (with an ONNX backbone: the finest layer 1 x 1, the other
 * 3 x 3), one at 3 x 3 and one at 1 x 1 on every layer. Each finds a small defect; the saved model
 * records what it was learned with and keeps answering that way when the option changes (it applies
 * to the next round), after a redeploy.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { readLearnedRecord } from "../../src/lib/detector/storage/learned-record";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { readModelFile } from "../../src/lib/persist";
import { generateGood, paintDefect } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { learnOn, scoreOf, sideBySide } from "../fixtures/detectors-side-by-side";
import { helper, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { prepareImage, preparedMessage, type Prepared } from "../fixtures/prepared";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: 64, height: 64 });
const TRAIN = 10;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

const prepare = (image: RawImage): Promise<Prepared> => prepareImage(image, OPTIONS);
const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

describe("defect-detector node: patch neighbourhood", function () {
  this.timeout(180_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let good: Prepared[] = [];
  let defective: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-neighbourhood-"));
    backbone = await writeTinyBackbone(dir);
    train = await Promise.all(Array.from({ length: TRAIN }, (_, i) => prepare(generateGood(KIND, i + 1, SOURCE_SIZE))));
    good = await Promise.all([100, 101, 102].map((seed) => prepare(generateGood(KIND, seed, SOURCE_SIZE))));
    defective = await prepare(paintDefect(generateGood(KIND, 104, SOURCE_SIZE), "spot", 5).image);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const flow = (wideNeighbourhood = "3"): FlowItem[] =>
    sideBySide(
      { backbone, layers: "l1,l2", trainCount: String(TRAIN) },
      { mixed: {}, wide: { neighbourhood: wideNeighbourhood }, alone: { neighbourhood: "1" } },
    );
  const score = (id: string, p: Prepared): Promise<number> => scoreOf(id, msgOf(p));
  const learn = (id: string): Promise<unknown> =>
    learnOn(
      id,
      train.map((p) => msgOf(p, { learn: true })),
    );

  async function savedNeighbourhood(id: string): Promise<readonly number[]> {
    const path = join(userDir(), "defect-detection", `${id}.ddm`);
    return readLearnedRecord((await readModelFile(path)).metadata, path).neighbourhood;
  }

  it("keeps the finest layer alone by default with an ONNX backbone, finds a small defect with each choice, and a saved model keeps its neighbourhood", async function () {
    await helper.load(node, flow());
    for (const id of ["mixed", "wide", "alone"]) await learn(id);
    assert.deepEqual(await savedNeighbourhood("mixed"), [1, 3]);
    assert.deepEqual(await savedNeighbourhood("wide"), [3, 3]);
    assert.deepEqual(await savedNeighbourhood("alone"), [1, 1]);

    const scores = async (id: string) => ({
      good: [await score(id, good[0]!), await score(id, good[1]!), await score(id, good[2]!)],
      defective: await score(id, defective),
    });
    const mixed = await scores("mixed");
    const wide = await scores("wide");
    const alone = await scores("alone");
    for (const [name, s] of [
      ["1 x 1, 3 x 3", mixed],
      ["3 x 3", wide],
      ["1 x 1", alone],
    ] as const) {
      assert.ok(s.defective > Math.max(...s.good), `${name}: defective ${s.defective}, good ${s.good.join(", ")}`);
    }
    assert.equal(new Set([mixed.defective, wide.defective, alone.defective]).size, 3, "each neighbourhood gives other features");

    // Redeployed with Neighbourhood on auto (1 x 1, 3 x 3 for what is learned next), the model learned with 3 x 3 still answers with it.
    await helper.unload();
    await helper.load(node, flow("auto"));
    const again = await score("wide", defective);
    assert.ok(Math.abs(again - wide.defective) < 1e-6 * Math.max(1, wide.defective), `${again} after the redeploy, ${wide.defective} before`);
    assert.deepEqual(await savedNeighbourhood("wide"), [3, 3]);
    await helper.unload();
  });
});
