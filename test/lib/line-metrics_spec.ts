import assert from "node:assert/strict";
import type { TestSample } from "../../src/offline/eval/mvtec-dataset";
import { accuracyFigures } from "../../src/offline/line/metrics";
import type { Inspected } from "../../src/offline/line/read";

function sample(i: number, defective: boolean): TestSample {
  return { path: `/data/test/${defective ? "crack" : "good"}/${i}.png`, type: defective ? "crack" : "good", defective, maskPath: null };
}

function inspected(score: number, verdict: string): Inspected {
  return { score, verdict, threshold: 0.5, regions: [], width: 8, height: 8, map: null, timings: {} };
}

describe("line accuracy figures on hand-made verdicts", function () {
  // 10 good parts (one called NG) and 4 defective ones (three called NG, one UNCERTAIN).
  const goodScores = [0.1, 0.12, 0.15, 0.2, 0.22, 0.25, 0.3, 0.33, 0.4, 0.7];
  const defectScores = [0.35, 0.8, 0.9, 0.95];
  const samples = [...goodScores.map((_, i) => sample(i, false)), ...defectScores.map((_, i) => sample(10 + i, true))];
  const records = [
    ...goodScores.map((s) => inspected(s, s > 0.5 ? "NG" : "OK")),
    inspected(0.35, "UNCERTAIN"),
    ...defectScores.slice(1).map((s) => inspected(s, "NG")),
  ];

  it("counts the threshold node's own verdicts: calibrated recall and false-reject rate", async function () {
    const figures = await accuracyFigures(samples, records, 8, false);
    assert.equal(figures.calibrated_recall, 3 / 4, "UNCERTAIN is not NG");
    assert.equal(figures.calibrated_frr, 1 / 10);
  });

  it("ranks the scores for recall at a false-reject rate, whatever the verdicts", async function () {
    const figures = await accuracyFigures(samples, records, 8, false);
    // At 1 % of 10 good parts none may be rejected: the threshold is above 0.7, 3 of 4 defects.
    assert.equal(figures.recall_at_frr_1, 3 / 4);
    assert.equal(figures.recall_at_frr_5, 3 / 4);
    assert.equal(figures.pixel_auroc, null, "no masks, no pixel figures");
  });
});
