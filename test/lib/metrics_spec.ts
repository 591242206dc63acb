import assert from "node:assert/strict";
import { aupro, auroc, aurocSplit, averagePrecision, f1Max, pixelAuroc, recallAtFrr, statsAtThreshold } from "../../src/lib/metrics";

const close = (actual: number, expected: number, eps = 1e-9): void => assert.ok(Math.abs(actual - expected) <= eps, `expected ${expected}, got ${actual}`);

describe("metrics: ranking", function () {
  const scores = [0.1, 0.4, 0.35, 0.8];
  const labels = [0, 0, 1, 1];

  it("AUROC matches the hand count of ordered pairs", function () {
    // pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3 of 4
    close(auroc(scores, labels), 0.75);
  });

  it("AUROC counts ties half and is undefined without both classes", function () {
    close(auroc([0.5, 0.5, 0.5], [1, 0, 0]), 0.5);
    close(auroc([0.2, 0.5, 0.5], [1, 1, 0]), 0.25);
    assert.ok(Number.isNaN(auroc([0.1, 0.2], [1, 1])));
    close(aurocSplit(new Float32Array([3, 4]), new Float32Array([1, 2])), 1);
    close(auroc([0.9, 0.1], [false, true]), 0);
  });

  it("refuses a NaN score with an error instead of ranking it (it used to loop forever)", function () {
    assert.throws(() => auroc([0.5, Number.NaN, 0.2], [1, 1, 0]), { name: "RangeError", message: "AUROC of scores that include NaN" });
    assert.throws(() => aurocSplit(new Float32Array([1]), new Float32Array([Number.NaN])), RangeError);
  });

  it("average precision sums recall steps times precision", function () {
    // thresholds 0.8 (P 1, R .5), 0.4 (P .5, R .5), 0.35 (P 2/3, R 1), 0.1 (P .5, R 1)
    close(averagePrecision(scores, labels), 0.5 * 1 + 0.5 * (2 / 3));
  });

  it("F1-max picks the best threshold", function () {
    const best = f1Max(scores, labels);
    close(best.f1, 0.8, 1e-9);
    assert.equal(best.threshold, 0.35);
    close(best.precision, 2 / 3);
    close(best.recall, 1);
  });

  it("statistics at a threshold count score >= threshold as defective", function () {
    const s = statsAtThreshold(scores, labels, 0.35);
    assert.deepEqual([s.tp, s.fp, s.tn, s.fn], [2, 1, 1, 0]);
    close(s.accuracy, 0.75);
    close(s.precision, 2 / 3);
    close(s.recall, 1);
    close(s.fpr, 0.5);
    close(s.fnr, 0);
    assert.ok(Number.isNaN(statsAtThreshold([0.1], [0], 0.5).recall), "no defects: recall undefined");
  });
});

describe("metrics: recall at a false-reject rate", function () {
  // 100 good parts scored 0..99, defects at 50, 97.5, 98, 99 and 120.
  const good = Array.from({ length: 100 }, (_, i) => i);
  const defects = [50, 97.5, 98, 99, 120];
  const scores = [...good, ...defects];
  const labels = [...good.map(() => 0), ...defects.map(() => 1)];

  it("counts the defects a threshold rejecting at most that share of good parts catches", function () {
    // 1 %: one good part (99) may go; the bar is 98, so 99 and 120 are caught (98 ties and stays).
    assert.equal(recallAtFrr(scores, labels, 0.01), 2 / 5);
    // 5 %: good 95..99 may go; the bar is 94: 97.5, 98, 99 and 120.
    assert.equal(recallAtFrr(scores, labels, 0.05), 4 / 5);
    // 0 %: above every good part.
    assert.equal(recallAtFrr(scores, labels, 0), 1 / 5);
    assert.equal(recallAtFrr(scores, labels, 1), 1);
  });

  it("is what the threshold at that bar measures, and NaN without both kinds of part", function () {
    const s = statsAtThreshold(scores, labels, 94.5);
    assert.ok(s.fpr <= 0.05);
    assert.equal(recallAtFrr(scores, labels, 0.05), s.recall);
    assert.ok(Number.isNaN(recallAtFrr([1, 2], [0, 0], 0.01)));
    assert.throws(() => recallAtFrr(scores, labels, 1.5), /frr must be within/);
  });
});

describe("metrics: AUPRO", function () {
  it("is 1 for a map that ranks every defect pixel first", function () {
    close(aupro([{ map: [0.1, 0.2, 0.3, 0.9], mask: [0, 0, 255, 255], width: 4, height: 1 }]), 1);
  });

  it("weights regions equally and integrates up to FPR 0.3", function () {
    // Region A (1 px, score .5) and region B (2 px, .7 and .3); negatives .6 .2 .1 .1 .1.
    // PRO is 0.25 for FPR in [0, 0.2), then 1 from FPR 0.2: area to 0.3 = 0.05 + 0.1 -> 0.15 / 0.3.
    const value = aupro([
      { map: [0.5, 0.6, 0.1, 0.1], mask: [1, 0, 0, 0], width: 4, height: 1 },
      { map: [0.2, 0.1, 0.7, 0.3], mask: [0, 0, 1, 1], width: 4, height: 1 },
    ]);
    close(value, 0.5, 1e-6);
  });

  it("is undefined without defect regions and rejects mismatched sizes", function () {
    assert.ok(Number.isNaN(aupro([{ map: [0.1, 0.2], mask: [0, 0], width: 2, height: 1 }])));
    assert.throws(() => aupro([{ map: [0.1], mask: [0, 0], width: 2, height: 1 }]), RangeError);
  });
});

describe("metrics: pixel AUROC", function () {
  it("ranks every pixel of every map against its mask, as AUROC over the pixels laid end to end", function () {
    const maps = [
      { map: Float32Array.from([0.9, 0.1, 0.4, 0.2]), mask: Uint8Array.from([1, 0, 0, 0]), width: 2, height: 2 },
      { map: Float32Array.from([0.3, 0.8, 0.05, 0.6]), mask: Uint8Array.from([0, 1, 0, 1]), width: 2, height: 2 },
    ];
    const scores = maps.flatMap((m) => Array.from(m.map));
    const labels = maps.flatMap((m) => Array.from(m.mask));
    // Positives 0.9, 0.8, 0.6 against negatives 0.1, 0.4, 0.2, 0.3, 0.05: every pair ranked right.
    assert.equal(pixelAuroc(maps, 3), 1);
    assert.equal(
      pixelAuroc(maps, 3),
      auroc(
        scores,
        labels.map((l) => l === 1),
      ),
    );
    maps[1]!.map[3] = 0.35;
    assert.equal(pixelAuroc(maps, 3), 14 / 15);
  });
});
