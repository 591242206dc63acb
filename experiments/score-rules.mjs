// Image-score rules compared offline on what experiments/score-maps.mjs wrote: for each rule, the
// image AUROC and recall at 1 % / 5 % false rejects of painted and labelled defects against the
// validation good parts (and, with TEST=1, of the test set: report once, never choose with it).
//   [TEST=1] node experiments/score-rules.mjs /tmp/x.json   (TEST=1: also the test set, and by defect type)
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { auroc } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "index.js")).href);
const { recallAtFrr } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "ranking.js")).href);

const dump = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sorted = (values) => [...values].sort((a, b) => a - b);
const quantile = (s, p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
const peak = (s) => s[s.length - 1];
const topMean = (s, share) => {
  const k = Math.max(1, Math.round(s.length * share));
  return s.slice(-k).reduce((a, b) => a + b, 0) / k;
};
/** Each rule from one record: `score` (the detector's), `max` (its full map's peak), `map` (pooled). */
const RULES = {
  reweighted: (r) => r.score,
  "map-max": (r) => r.max,
  "max - median": (r) => peak(sorted(r.map)) - quantile(sorted(r.map), 0.5),
  "max - mean": (r) => peak(sorted(r.map)) - r.map.reduce((a, b) => a + b, 0) / r.map.length,
  "max - p75": (r) => peak(sorted(r.map)) - quantile(sorted(r.map), 0.75),
  "max - p90": (r) => peak(sorted(r.map)) - quantile(sorted(r.map), 0.9),
  "max - p95": (r) => peak(sorted(r.map)) - quantile(sorted(r.map), 0.95),
  "reweighted - p90": (r) => r.score - quantile(sorted(r.map), 0.9),
  "max / median": (r) => peak(sorted(r.map)) / quantile(sorted(r.map), 0.5),
  "top 1 % mean": (r) => topMean(sorted(r.map), 0.01),
  "top 1 % mean - median": (r) => topMean(sorted(r.map), 0.01) - quantile(sorted(r.map), 0.5),
};
const f = (x) => x.toFixed(3);
function report(name, good, bad) {
  if (bad.length === 0) return;
  console.log(`\n${name}: ${good.length} good, ${bad.length} defective`);
  for (const [rule, of] of Object.entries(RULES)) {
    const scores = [...good.map(of), ...bad.map(of)];
    const labels = [...good.map(() => 0), ...bad.map(() => 1)];
    console.log(
      `${rule.padEnd(22)} AUROC ${f(auroc(scores, labels))}  recall at FRR 1 % ${f(recallAtFrr(scores, labels, 0.01))}  5 % ${f(recallAtFrr(scores, labels, 0.05))}`,
    );
  }
}
const { conformalThreshold } = await import(pathToFileURL(join(root, "dist", "lib", "threshold", "calibrate-good.js")).href);
if (dump.loo?.length > 0) {
  // The threshold node's default calibration from the detector's leave-one-out scores, on the validation good parts.
  for (const rate of [1, 5]) {
    const { threshold } = conformalThreshold(dump.loo, rate);
    const rejected = dump.good.filter((r) => r.score >= threshold).length;
    console.log(`detector's score: FRR at ${rate} % promised ${f(rejected / dump.good.length)} (${rejected} of ${dump.good.length})`);
  }
}
report("painted validation", dump.good, dump.painted);
report("labelled validation", dump.good, dump.labelled ?? []);
if (process.env.TEST)
  report(
    "TEST",
    dump.test.filter((r) => !r.defective),
    dump.test.filter((r) => r.defective),
  );
if (process.env.TEST) {
  // The detector's own score by defect type: the share of each type above the scores that reject 1 % and 5 % of the good test parts.
  const good = sorted(dump.test.filter((r) => !r.defective).map((r) => r.score));
  const rejecting = (rate) => good[Math.ceil((1 - rate) * good.length) - 1];
  const byType = new Map();
  for (const r of dump.test.filter((x) => x.defective)) byType.set(r.type, [...(byType.get(r.type) ?? []), r]);
  console.log("\nTEST by defect type, the detector's score: recall at FRR 1 % / 5 %");
  for (const [type, parts] of byType) {
    const caught = (rate) => f(parts.filter((r) => r.score > rejecting(rate)).length / parts.length);
    console.log(`${String(type).padEnd(22)} ${parts.length} parts  ${caught(0.01)} / ${caught(0.05)}`);
  }
}
