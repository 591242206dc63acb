import assert from "node:assert/strict";
import { defectTypeSummary, figuresByDefectType } from "../../src/offline/eval/by-defect-type";
import type { TestSample } from "../../src/offline/eval/mvtec-dataset";
import { recallAtFrr } from "../../src/lib/metrics";

function sample(type: string, i: number): TestSample {
  return { path: `/data/test/${type}/${i}.png`, type, defective: type !== "good", maskPath: null };
}

describe("recall by defect type on hand-made scores", function () {
  // 20 good parts scored 0.00 .. 0.19 (the highest, 0.19, is the one a 5 % false-reject rate may reject).
  const good = Array.from({ length: 20 }, (_, i) => ({ sample: sample("good", i), score: i / 100, verdict: i >= 19 ? "NG" : "OK" }));
  // Cracks stand out; one "uneven" part does, three hide among the good ones (one of them above 0.18).
  const cracks = [0.5, 0.6, 0.7].map((score, i) => ({ sample: sample("crack", i), score, verdict: "NG" }));
  const uneven = [0.185, 0.1, 0.05, 0.9].map((score, i) => ({ sample: sample("uneven", i), score, verdict: score > 0.5 ? "NG" : "OK" }));
  const all = [...uneven, ...good, ...cracks];
  const figures = figuresByDefectType(
    all.map((p) => p.sample),
    all.map((p) => p.score),
    all.map((p) => p.verdict),
  );

  it("lists each defect type once, in name order, with its count", function () {
    assert.deepEqual(Object.keys(figures), ["crack", "uneven"]);
    assert.deepEqual([figures["crack"]?.images, figures["uneven"]?.images], [3, 4]);
  });

  it("measures each type against all the good parts: the thresholds the overall figures use", function () {
    // 1 % of 20 good parts rejects none: only scores above 0.19 count.
    assert.deepEqual([figures["crack"]?.recall_at_frr_1, figures["uneven"]?.recall_at_frr_1], [1, 1 / 4]);
    // 5 % rejects one good part (0.19): scores above 0.18 count, so 0.185 is caught there.
    assert.deepEqual([figures["crack"]?.recall_at_frr_5, figures["uneven"]?.recall_at_frr_5], [1, 2 / 4]);
    const overall = recallAtFrr(
      all.map((p) => p.score),
      all.map((p) => (p.sample.defective ? 1 : 0)),
      0.05,
    );
    assert.equal((3 * 1 + 4 * (2 / 4)) / 7, overall, "the types weigh up to the overall recall");
  });

  it("counts the threshold node's NG verdicts per type, and gives null without verdicts", function () {
    assert.deepEqual([figures["crack"]?.calibrated_recall, figures["uneven"]?.calibrated_recall], [1, 1 / 4]);
    const unjudged = figuresByDefectType(
      all.map((p) => p.sample),
      all.map((p) => p.score),
    );
    assert.equal(unjudged["uneven"]?.calibrated_recall, null);
  });

  it("gives null recall where there are no good parts to set a threshold, and refuses misaligned lists", function () {
    const onlyDefects = figuresByDefectType(
      cracks.map((p) => p.sample),
      cracks.map((p) => p.score),
    );
    assert.equal(onlyDefects["crack"]?.recall_at_frr_5, null);
    assert.throws(() => figuresByDefectType([sample("crack", 0)], [0.1, 0.2]), /1 samples, 2 scores/);
  });

  it("summarises each type for the CLI tables", function () {
    assert.equal(defectTypeSummary(figures), "crack 1.00 / 1.00 (3), uneven 0.25 / 0.50 (4)");
    assert.equal(defectTypeSummary({}), "-");
  });
});
