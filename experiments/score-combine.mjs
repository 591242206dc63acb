// Two detectors' scores combined (issue 15 candidates: PatchCore with PaDiM, or with image-level
// nearest neighbours): each score standardised by the mean and deviation of its learned images'
// leave-one-out scores (training data only; NORM=validation uses the validation good parts'
// instead, where a detector hands no leave-one-out scores, e.g. PaDiM), then (1 - w) a + w b for w
// from 0 to 1. COMBINE=max: max(a, b - t) for t in 0, 0.5, 1 (either kind of evidence counts in full);
// COMBINE=lse: log(e^a + e^b) (a smooth maximum). Inputs: two files of experiments/score-maps.mjs
// or image-knn.mjs over the same sets.
//   [TEST=1] [COMBINE=sum|max|lse] node experiments/score-combine.mjs a.json b.json
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { auroc } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "index.js")).href);
const { recallAtFrr } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "ranking.js")).href);

const [a, b] = process.argv.slice(2, 4).map((file) => JSON.parse(readFileSync(file, "utf8")));
const meanDeviation = (xs) => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return [mean, Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length)];
};
const normOf = (d) => meanDeviation(process.env.NORM === "validation" || !(d.loo?.length > 0) ? d.good.map((r) => r.score) : d.loo);
const [meanA, devA] = normOf(a);
const [meanB, devB] = normOf(b);
const f = (x) => x.toFixed(3);
/** Each rule of two standardised scores, by name. */
const RULES = {
  sum: [0, 0.25, 0.5, 0.75, 1].map((w) => [`w = ${w.toFixed(2)}`, (x, y) => (1 - w) * x + w * y]),
  max: [0, 0.5, 1].map((t) => [`max(a, b - ${t})`, (x, y) => Math.max(x, y - t)]),
  lse: [["log(e^a + e^b)", (x, y) => Math.log(Math.exp(x) + Math.exp(y))]],
}[process.env.COMBINE || "sum"];
if (RULES === undefined) throw new Error(`COMBINE must be sum, max or lse, got ${process.env.COMBINE}`);
function report(name, goodOf, badOf) {
  const bad = badOf(a);
  if (bad.length === 0) return;
  console.log(`\n${name}`);
  for (const [name, rule] of RULES) {
    const combined = (ra, rb) => rule((ra.score - meanA) / devA, (rb.score - meanB) / devB);
    const good = goodOf(a).map((r, i) => combined(r, goodOf(b)[i]));
    const defective = bad.map((r, i) => combined(r, badOf(b)[i]));
    const scores = [...good, ...defective];
    const labels = [...good.map(() => 0), ...defective.map(() => 1)];
    console.log(
      `${name}  AUROC ${f(auroc(scores, labels))}  recall at FRR 1 % ${f(recallAtFrr(scores, labels, 0.01))}  5 % ${f(recallAtFrr(scores, labels, 0.05))}`,
    );
  }
}
const { conformalThreshold } = await import(pathToFileURL(join(root, "dist", "lib", "threshold", "calibrate-good.js")).href);
if (a.loo?.length > 0 && b.loo?.length === a.loo.length) {
  // The threshold node's calibration from the combined leave-one-out scores, kept or not on the validation good parts.
  console.log("\nFRR on the validation good parts at 1 % / 5 % promised (leave-one-out calibration)");
  for (const [name, rule] of RULES) {
    const combined = (sa, sb) => rule((sa - meanA) / devA, (sb - meanB) / devB);
    const loo = a.loo.map((s, i) => combined(s, b.loo[i]));
    const good = a.good.map((r, i) => combined(r.score, b.good[i].score));
    const frr = (rate) => good.filter((s) => s >= conformalThreshold(loo, rate).threshold).length / good.length;
    console.log(`${name}  ${f(frr(1))} / ${f(frr(5))}`);
  }
}
report(
  "painted validation",
  (d) => d.good,
  (d) => d.painted,
);
report(
  "labelled validation",
  (d) => d.good,
  (d) => d.labelled ?? [],
);
if (process.env.TEST)
  report(
    "TEST",
    (d) => d.test.filter((r) => !r.defective),
    (d) => d.test.filter((r) => r.defective),
  );
