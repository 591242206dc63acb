/**
 * Exposure evened out before the backbone (even-exposure.ts), as a user sees it: two detectors learn
 * the same good parts, one at the default Exposure (even, with an ONNX backbone), one as captured.
 * A good part shot at about half the exposure scores like a good part with the first and far above
 * every good part with the second; a defect still stands out; and a saved model keeps the
 * exposure it was learned with when the option changes (it applies to the next round).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { generateGood, paintDefect } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { learnOn, scoreOf, sideBySide } from "../fixtures/detectors-side-by-side";
import { helper, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { prepareImage, preparedMessage, scaledImage, type Prepared } from "../fixtures/prepared";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: 64, height: 64 });
const TRAIN = 10;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

const prepare = (image: RawImage): Promise<Prepared> => prepareImage(image, OPTIONS);
const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

describe("defect-detector node: exposure evened out", function () {
  this.timeout(180_000);
  useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let good: Prepared[] = [];
  let normal: Prepared;
  let dim: Prepared;
  let defective: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-exposure-"));
    backbone = await writeTinyBackbone(dir);
    train = await Promise.all(Array.from({ length: TRAIN }, (_, i) => prepare(generateGood(KIND, i + 1, SOURCE_SIZE))));
    good = await Promise.all([100, 101, 102].map((seed) => prepare(generateGood(KIND, seed, SOURCE_SIZE))));
    const part = generateGood(KIND, 103, SOURCE_SIZE);
    normal = await prepare(part);
    dim = await prepare(scaledImage(part, 0.5));
    defective = await prepare(paintDefect(generateGood(KIND, 104, SOURCE_SIZE), "spot", 5).image);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  // Patches alone, so the scores compare the features the backbone saw.
  const flow = (capturedExposure = "as-captured"): FlowItem[] =>
    sideBySide({ backbone, layers: "l1,l2", trainCount: String(TRAIN), appearanceWeight: "0" }, { even: {}, captured: { exposure: capturedExposure } });
  const score = (id: string, p: Prepared): Promise<number> => scoreOf(id, msgOf(p));
  const learn = (id: string): Promise<unknown> =>
    learnOn(
      id,
      train.map((p) => msgOf(p, { learn: true })),
    );

  it("scores a part shot at half the exposure like a good part, still finds a defect, and a saved model keeps its exposure", async function () {
    await helper.load(node, flow());
    await learn("even");
    await learn("captured");
    const scores = async (id: string) => ({
      good: [await score(id, good[0]!), await score(id, good[1]!), await score(id, good[2]!)],
      normal: await score(id, normal),
      dim: await score(id, dim),
      defective: await score(id, defective),
    });
    const even = await scores("even");
    const captured = await scores("captured");
    const spread = (s: { good: number[] }) => Math.max(...s.good) - Math.min(...s.good);

    // As captured, the dim part is far from every learned part; evened out it is the same part.
    assert.ok(captured.dim > Math.max(...captured.good) + spread(captured), `as captured: dim ${captured.dim}, good ${captured.good.join(", ")}`);
    // Evened out, at most a tenth of what the exposure moved the score as captured is left (8-bit rounding of the dim copy).
    const shift = { even: Math.abs(even.dim - even.normal), captured: Math.abs(captured.dim - captured.normal) };
    assert.ok(shift.even < 0.1 * shift.captured, `dim against the same part at its exposure: even ${shift.even}, as captured ${shift.captured}`);
    assert.ok(even.dim <= Math.max(...even.good) * 1.05, `even: dim ${even.dim}, good ${even.good.join(", ")}`);
    // A defect keeps its contrast against its own part.
    assert.ok(even.defective > Math.max(...even.good), `even: defective ${even.defective}, good ${even.good.join(", ")}`);

    // Redeployed with Exposure on auto, the model learned as captured still answers as captured.
    await helper.unload();
    await helper.load(node, flow("auto"));
    const again = await score("captured", dim);
    assert.ok(Math.abs(again - captured.dim) < 1e-6 * Math.max(1, captured.dim), `${again} after the redeploy, ${captured.dim} before`);
    await helper.unload();
  });
});
