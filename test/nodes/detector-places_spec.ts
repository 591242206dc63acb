/**
 * Place weights (place-weights.ts), as a user sees them: two detectors learn the same good parts,
 * whose corner shows a glare of varying strength (a reflection, a fixture), one at the default
 * Place weights (with an ONNX backbone and the map's image score: on) and one with them off. A good
 * part with a somewhat stronger glare in that corner outscores a small defect elsewhere without the
 * weights, and scores below it with them; the saved model keeps its weights, and keeps scoring with
 * them after a redeploy with the option off (it applies to the next learning round).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { onlineBankFrom } from "../../src/lib/detector/storage/online-store";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { readModelFile } from "../../src/lib/persist";
import { Rng } from "../../src/lib/random";
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
/** MIN_PLACE_IMAGES and a few more. */
const TRAIN = 24;
const GLARE_SIDE = 24;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

/** `image` with its top-left corner brightened by `strength` grey levels. */
function withGlare(image: RawImage, strength: number): RawImage {
  const data = new Uint8Array(image.data);
  for (let y = 0; y < GLARE_SIDE; y++) {
    for (let x = 0; x < GLARE_SIDE; x++) {
      for (let c = 0; c < image.channels; c++) {
        const i = (y * image.width + x) * image.channels + c;
        data[i] = Math.min(255, (data[i] as number) + strength);
      }
    }
  }
  return { ...image, data };
}

const prepare = (image: RawImage): Promise<Prepared> => prepareImage(image, OPTIONS);
const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

describe("defect-detector node: place weights", function () {
  this.timeout(180_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let glare: Prepared;
  let defective: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-places-"));
    backbone = await writeTinyBackbone(dir);
    const rng = new Rng(9);
    train = await Promise.all(Array.from({ length: TRAIN }, (_, i) => prepare(withGlare(generateGood(KIND, i + 1, SOURCE_SIZE), Math.round(rng.next() * 60)))));
    // Stronger than any learned glare (0-60) by enough to outscore the spot without weights, not with them.
    glare = await prepare(withGlare(generateGood(KIND, 100, SOURCE_SIZE), 84));
    defective = await prepare(paintDefect(generateGood(KIND, 104, SOURCE_SIZE), "spot", 5).image);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const flow = (placedOption = "auto"): FlowItem[] =>
    sideBySide({ backbone, layers: "l1,l2", trainCount: String(TRAIN) }, { placed: { placeWeights: placedOption }, flat: { placeWeights: "off" } });
  const score = (id: string, p: Prepared): Promise<number> => scoreOf(id, msgOf(p));

  async function savedPlaces(id: string): Promise<Float32Array | null> {
    const path = join(userDir(), "defect-detection", `${id}.ddm`);
    return onlineBankFrom(await readModelFile(path), path).places;
  }

  it("ranks a defect above a glare where the learned parts' glare varies, and a saved model keeps its weights", async function () {
    await helper.load(node, flow());
    // Two halves: the detector queues 16 images to learn at most.
    for (const id of ["placed", "flat"])
      for (const half of [train.slice(0, TRAIN / 2), train.slice(TRAIN / 2)])
        await learnOn(
          id,
          half.map((p) => msgOf(p, { learn: true })),
        );
    const places = await savedPlaces("placed");
    assert.ok(places !== null, "the default fits place weights with an ONNX backbone");
    assert.ok(places.some((w) => w < 1) && places.every((w) => w > 0 && w <= 1), "some places count less, none more");
    assert.equal(await savedPlaces("flat"), null, "off: none fitted");

    const placed = { glare: await score("placed", glare), defective: await score("placed", defective) };
    const flat = { glare: await score("flat", glare), defective: await score("flat", defective) };
    assert.ok(flat.glare > flat.defective, `without place weights the glare outscores the defect: ${flat.glare} vs ${flat.defective}`);
    assert.ok(placed.defective > placed.glare, `with them the defect comes first: ${placed.defective} vs ${placed.glare}`);

    // Redeployed with Place weights off (for what is learned next), the model fitted with them still scores with them.
    await helper.unload();
    await helper.load(node, flow("off"));
    const again = await score("placed", glare);
    assert.ok(Math.abs(again - placed.glare) < 1e-6 * Math.max(1, placed.glare), `${again} after the redeploy, ${placed.glare} before`);
    await helper.unload();
  });
});
