/**
 * Look-alike calibration in the detector's PatchCore score (lookalikes.ts), as a user sees it: two
 * detectors learn the same good parts of two kinds, a plain surface and a grainier one that scores
 * higher as a kind; one calibrates by look-alikes, the other does not (0). A grainy part's score is
 * lowered and a plain part's raised by msg.payload.lookalikes, the leave-one-out scores handed to
 * the threshold include the terms, and a restart scores the same.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { Rng } from "../../src/lib/random";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { answerOf, learnOn, sideBySide } from "../fixtures/detectors-side-by-side";
import { helper, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { prepareImage, preparedMessage, type Prepared } from "../fixtures/prepared";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: 64, height: 64 });
/** Of each kind: 12 learned images, more than the 8 whose rounds are augmented. */
const PER_KIND = 6;
const LOOKALIKES = 3;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

/** The same surface with strong pixel noise: every grainy part is unlike every other patch by patch. */
function grainy(image: RawImage, seed: number): RawImage {
  const rng = new Rng(seed);
  return { ...image, data: Uint8Array.from(image.data, (v) => Math.max(0, Math.min(255, Math.round(v + (rng.next() - 0.5) * 120)))) };
}

const prepare = (image: RawImage): Promise<Prepared> => prepareImage(image, OPTIONS);
const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

interface Inspected {
  score: number;
  lookalikes?: number;
}

describe("defect-detector node: scores calibrated by look-alikes", function () {
  this.timeout(180_000);
  useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let plain: Prepared;
  let grain: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-lookalikes-"));
    backbone = await writeTinyBackbone(dir);
    const kinds = await Promise.all(
      Array.from({ length: PER_KIND }, async (_, i) => [
        await prepare(generateGood(KIND, i + 1, SOURCE_SIZE)),
        await prepare(grainy(generateGood(KIND, i + 50, SOURCE_SIZE), i + 1)),
      ]),
    );
    train = kinds.flat();
    plain = await prepare(generateGood(KIND, 100, SOURCE_SIZE));
    grain = await prepare(grainy(generateGood(KIND, 101, SOURCE_SIZE), 99));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const flow = (): FlowItem[] =>
    sideBySide({ backbone, layers: "l1,l2", trainCount: String(train.length) }, { det: { lookalikes: String(LOOKALIKES) }, off: { lookalikes: "0" } });

  async function learn(id: string): Promise<number[]> {
    const outs = await learnOn(
      id,
      train.map((p) => msgOf(p, { learn: true })),
    );
    return (outs[train.length - 1]!.payload as { calibration: { scores: number[] } }).calibration.scores;
  }

  const inspect = async (id: string, p: Prepared): Promise<Inspected> => (await answerOf(id, msgOf(p))).payload as Inspected;

  it("lowers the scores of a kind that scores high, in the handed leave-one-out scores too, and keeps them across a restart", async function () {
    await helper.load(node, flow());
    const calibrated = await learn("det");
    const uncalibrated = await learn("off");
    assert.equal(calibrated.length, train.length);
    // Learned in turn, plain then grainy: the grainy kind scores higher without look-alikes ...
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const kindOf = (scores: number[], k: number): number[] => scores.filter((_, i) => i % 2 === k);
    assert.ok(mean(kindOf(uncalibrated, 1)) > mean(kindOf(uncalibrated, 0)), `grainy ${kindOf(uncalibrated, 1)} plain ${kindOf(uncalibrated, 0)}`);
    // ... and the look-alikes narrow the gap between the kinds in the scores the threshold calibrates on.
    const gap = (scores: number[]): number => mean(kindOf(scores, 1)) - mean(kindOf(scores, 0));
    assert.ok(gap(calibrated) < gap(uncalibrated), `gap ${gap(calibrated)} calibrated, ${gap(uncalibrated)} not`);

    const g = await inspect("det", grain);
    const gOff = await inspect("off", grain);
    const p = await inspect("det", plain);
    const pOff = await inspect("off", plain);
    assert.equal(gOff.lookalikes, undefined, "0: no term on the payload");
    assert.ok(g.lookalikes! < 0, `grainy part's term ${g.lookalikes}`);
    assert.ok(p.lookalikes! > 0, `plain part's term ${p.lookalikes}`);
    assert.ok(Math.abs(g.score - gOff.score - g.lookalikes!) < 1e-5 * Math.max(1, gOff.score), `${g.score} = ${gOff.score} + ${g.lookalikes}`);
    assert.ok(Math.abs(p.score - pOff.score - p.lookalikes!) < 1e-5 * Math.max(1, pOff.score));

    // A restart loads the saved levels: the same score, to float precision.
    await helper.unload();
    await helper.load(node, flow());
    const again = await inspect("det", grain);
    assert.ok(Math.abs(again.score - g.score) < 1e-6 * Math.max(1, g.score), `${again.score} after the restart, ${g.score} before`);
    assert.ok(Math.abs(again.lookalikes! - g.lookalikes!) < 1e-6 * Math.max(1, Math.abs(g.lookalikes!)));
    await helper.unload();
  });
});
