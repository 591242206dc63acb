// A first look at place weights (src/lib/anomaly/patchcore/place-weights.ts) on what
// experiments/score-maps.mjs wrote, before any code of the detector changed: each validation good
// part's pooled map weighted by the spread of the other half of the good parts' maps (cross-fitted,
// so a part never weighs itself), the painted, labelled and test parts' maps by every good part's;
// the image score is the mean of the map's top 1 % (the detector's map-top-mean, without its
// appearance term). Rules: none, the mean subtracted, z-scores (the mean subtracted, divided by the
// spread plus eps), and dividing by max(spread, the spread's median or 90th percentile) - the
// last two only ever lower a place. Prints AUROC and recall at 1 % / 5 % per set.
//   [TEST=1] node experiments/place-weights-screen.mjs /tmp/x.json
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { auroc } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "index.js")).href);
const { recallAtFrr } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "ranking.js")).href);

const dump = JSON.parse(readFileSync(process.argv[2], "utf8"));
const places = dump.good[0].map.length;
function stats(maps) {
  const mean = new Float64Array(places);
  const spread = new Float64Array(places);
  for (const m of maps) for (let p = 0; p < places; p++) mean[p] += m[p] / maps.length;
  for (const m of maps) for (let p = 0; p < places; p++) spread[p] += (m[p] - mean[p]) ** 2 / maps.length;
  return { mean, spread: Array.from(spread, Math.sqrt) };
}
const topMean = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const k = Math.max(1, Math.round(s.length * 0.01));
  return s.slice(-k).reduce((a, b) => a + b, 0) / k;
};
const quantileOf = (values, q) => [...values].sort((a, b) => a - b)[Math.floor(values.length * q)];
const halves = [dump.good.filter((_, i) => i % 2 === 0), dump.good.filter((_, i) => i % 2 === 1)];
const halfStats = halves.map((h) => stats(h.map((r) => r.map)));
const all = stats(dump.good.map((r) => r.map));
const meanSpread = all.spread.reduce((a, b) => a + b, 0) / places;
const RULES = {
  none: () => (r) => topMean(r.map),
  "mean subtracted": (st) => (r) => topMean(r.map.map((v, p) => v - st.mean[p])),
  "z (eps 0.5 x mean spread)": (st) => (r) => topMean(r.map.map((v, p) => (v - st.mean[p]) / (st.spread[p] + 0.5 * meanSpread))),
  "z (eps 2 x mean spread)": (st) => (r) => topMean(r.map.map((v, p) => (v - st.mean[p]) / (st.spread[p] + 2 * meanSpread))),
  "/ max(spread, median)": (st) => {
    const floor = quantileOf(st.spread, 0.5);
    return (r) => topMean(r.map.map((v, p) => (v * floor) / Math.max(st.spread[p], floor)));
  },
  "/ max(spread, 90th percentile)": (st) => {
    const floor = quantileOf(st.spread, 0.9);
    return (r) => topMean(r.map.map((v, p) => (v * floor) / Math.max(st.spread[p], floor)));
  },
};
const f = (x) => x.toFixed(3);
function report(name, good, bad, goodStats) {
  if (bad.length === 0) return;
  console.log(`\n${name}: ${good.length} good, ${bad.length} defective`);
  for (const [rule, make] of Object.entries(RULES)) {
    const scores = [...good.map((r) => make(goodStats(r))(r)), ...bad.map((r) => make(all)(r))];
    const labels = [...good.map(() => 0), ...bad.map(() => 1)];
    console.log(
      `${rule.padEnd(32)} AUROC ${f(auroc(scores, labels))}  recall at FRR 1 % ${f(recallAtFrr(scores, labels, 0.01))}  5 % ${f(recallAtFrr(scores, labels, 0.05))}`,
    );
  }
}
const crossFitted = (r) => halfStats[halves[0].includes(r) ? 1 : 0];
report("painted validation", dump.good, dump.painted, crossFitted);
report("labelled validation", dump.good, dump.labelled ?? [], crossFitted);
if (process.env.TEST)
  report(
    "TEST",
    dump.test.filter((r) => !r.defective),
    dump.test.filter((r) => r.defective),
    () => all,
  );
