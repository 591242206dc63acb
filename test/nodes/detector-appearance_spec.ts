/**
 * The whole part's appearance in the detector's PatchCore score (appearance.ts), as a user sees it:
 * two detectors learn the same good parts, one at the default Appearance weight, one at 0; a part
 * that is darker as a whole gets the appearance term on msg.payload.appearance and on its score,
 * the leave-one-out scores handed to the threshold include it, a restart scores the same, and a
 * part confirmed good is not held against its look again.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions } from "../../src/lib/image";
import type { RawImage } from "../../src/lib/image/types";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { answerOf, learnOn, sideBySide } from "../fixtures/detectors-side-by-side";
import { helper, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { prepareImage, preparedMessage, scaledImage, type Prepared } from "../fixtures/prepared";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: 64, height: 64 });
/** More than the 8 images whose rounds are augmented, and at least the 5 the appearance needs. */
const TRAIN = 10;
const node = withCatalog(detectorNode, catalogTranslator("detector"));

const prepare = (image: RawImage): Promise<Prepared> => prepareImage(image, OPTIONS);
const msgOf = (p: Prepared, extra: Record<string, unknown> = {}): NodeMessage => preparedMessage(p, OPTIONS, extra);

interface Inspected {
  score: number;
  appearance?: number;
}

describe("defect-detector node: the whole part's appearance", function () {
  this.timeout(180_000);
  useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Prepared[] = [];
  let good: Prepared[] = [];
  let dark: Prepared;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-appearance-"));
    backbone = await writeTinyBackbone(dir);
    train = await Promise.all(Array.from({ length: TRAIN }, (_, i) => prepare(generateGood(KIND, i + 1, SOURCE_SIZE))));
    good = await Promise.all([100, 101, 102].map((seed) => prepare(generateGood(KIND, seed, SOURCE_SIZE))));
    dark = await prepare(scaledImage(generateGood(KIND, 103, SOURCE_SIZE), 0.55) /* darker as a whole: no local defect, a different look */);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  // As captured: a darker part stays darker for the backbone (the default evens exposure out, even-exposure.ts).
  const flow = (): FlowItem[] =>
    // Look-alikes off: this spec isolates the appearance term (detector-lookalikes_spec.ts has them).
    sideBySide(
      { backbone, layers: "l1,l2", trainCount: String(TRAIN), exposure: "as-captured", lookalikes: "0" },
      { det: {}, flat: { appearanceWeight: "0" } },
    );
  const send = answerOf;

  async function learn(id: string): Promise<number[]> {
    const outs = await learnOn(
      id,
      train.map((p) => msgOf(p, { learn: true })),
    );
    return (outs[TRAIN - 1]!.payload as { calibration: { scores: number[] } }).calibration.scores;
  }

  const inspect = async (id: string, p: Prepared): Promise<Inspected> => (await send(id, msgOf(p))).payload as Inspected;

  it("adds the appearance term to the score and the handed leave-one-out scores, keeps it across a restart, and learns a confirmed look", async function () {
    await helper.load(node, flow());
    const withTerm = await learn("det");
    const patchesAlone = await learn("flat");
    assert.equal(withTerm.length, TRAIN);
    // The same bank, the same leave-one-out PatchCore scores; the default weight adds each image's term.
    const terms = withTerm.map((s, i) => s - patchesAlone[i]!);
    assert.ok(
      terms.some((t) => Math.abs(t) > 1e-6),
      `terms ${terms.join(", ")}`,
    );
    assert.ok(Math.abs(terms.reduce((a, b) => a + b, 0)) < 1e-6 * TRAIN * Math.max(...withTerm), "the terms are centred on the learned images' mean");

    const goodTerms: number[] = [];
    for (const p of good) {
      const a = await inspect("det", p);
      const b = await inspect("flat", p);
      assert.equal(typeof a.appearance, "number");
      assert.equal(b.appearance, undefined, "weight 0: no term on the payload");
      assert.ok(Math.abs(a.score - b.score - a.appearance!) < 1e-5 * Math.max(1, b.score), `good part: ${a.score} = ${b.score} + ${a.appearance}`);
      goodTerms.push(a.appearance!);
    }
    const before = await inspect("det", dark);
    const flat = await inspect("flat", dark);
    assert.ok(Math.abs(before.score - flat.score - before.appearance!) < 1e-5 * Math.max(1, flat.score));
    assert.ok(before.appearance! > Math.max(...goodTerms), `darker part ${before.appearance} against good parts ${goodTerms.join(", ")}`);
    assert.ok(before.appearance! > 0);

    // A restart loads the saved appearance: the same score, to float precision.
    await helper.unload();
    await helper.load(node, flow());
    const again = await inspect("det", dark);
    assert.ok(Math.abs(again.score - before.score) < 1e-6 * Math.max(1, before.score), `${again.score} after the restart, ${before.score} before`);
    assert.ok(Math.abs(again.appearance! - before.appearance!) < 1e-6 * Math.max(1, before.appearance!));

    // The operator accepts the look: the part's appearance is learned, its term falls below 0.
    const confirmed = await send("det", msgOf(dark, { confirm: "good" }));
    assert.equal(confirmed.payload && (confirmed.payload as Record<string, unknown>)["confirmed"], "good");
    const after = await inspect("det", dark);
    assert.ok(after.appearance! < 0 && after.appearance! < before.appearance!, `after the confirmation ${after.appearance}, before ${before.appearance}`);
    await helper.unload();
  });
});
