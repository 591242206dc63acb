// How far apart two rules of combining the patch score (a) with the appearance (b) are on the
// validation criterion (the mean of recall at 1 % and 5 % over the painted, texture (FOREIGN=1),
// band (BAND=1) and labelled sets the files hold), beyond what resampling the validation parts
// moves: 1,000 bootstrap resamples of each set's good and defective parts, the difference rule -
// default (0.75 a + 0.25 b) each time. Inputs: pairs of experiments/score-maps.mjs
// (APPEARANCE_WEIGHT=0) and image-knn.mjs files over the same sets.
// RULES=ensemble: two detectors' scores instead (e.g. two patch neighbourhoods), the default a alone
// against (1 - w) a + w b and against b alone.
//   [RULES=ensemble [W=0.25,0.5]] [SETS=painted,foreign,band,labelled] node experiments/combine-bootstrap.mjs mag-w0.json mag-knn.json cast-w0.json cast-knn.json
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { recallAtFrr } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "ranking.js")).href);
const { Rng } = await import(pathToFileURL(join(root, "dist", "lib", "random.js")).href);

const files = process.argv.slice(2);
if (files.length === 0 || files.length % 2 !== 0) throw new Error("give pairs of files: patches.json appearance.json ...");
const meanDeviation = (xs) => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return [mean, Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length)];
};
// SETS=labelled: the resampling over those sets alone (e.g. the real defects only).
const SETS = (process.env.SETS || "painted,foreign,band,labelled").split(",");
// W: the weights of (1 - w) a + w b that RULES=ensemble compares (default 0.25 and 0.5).
const WEIGHTS = (process.env.W || "0.25,0.5").split(",").map(Number);
const sets = [];
for (let i = 0; i < files.length; i += 2) {
  const [a, b] = [files[i], files[i + 1]].map((f) => JSON.parse(readFileSync(f, "utf8")));
  // As score-combine.mjs: a detector that hands no leave-one-out scores (PaDiM) is standardised by the validation good parts'.
  const normOf = (d) => meanDeviation(d.loo?.length > 0 ? d.loo : d.good.map((r) => r.score));
  const [meanA, devA] = normOf(a);
  const [meanB, devB] = normOf(b);
  const z = (ra, rb) => [(ra.score - meanA) / devA, (rb.score - meanB) / devB];
  const good = a.good.map((r, k) => z(r, b.good[k]));
  for (const key of SETS) if ((a[key] ?? []).length > 0) sets.push({ good, bad: a[key].map((r, k) => z(r, b[key][k])) });
}
const RULES =
  process.env.RULES === "ensemble"
    ? {
        default: ([x]) => x,
        ...Object.fromEntries(WEIGHTS.map((w) => [`${1 - w} a + ${w} b`, ([x, y]) => (1 - w) * x + w * y])),
        "b alone": ([, y]) => y,
      }
    : {
        default: ([x, y]) => 0.75 * x + 0.25 * y,
        "max(a, b)": ([x, y]) => Math.max(x, y),
        "log(e^a + e^b)": ([x, y]) => Math.log(Math.exp(x) + Math.exp(y)),
      };
function criterion(rule, picks) {
  let total = 0;
  sets.forEach((set, k) => {
    const good = picks === undefined ? set.good : picks[k].good.map((i) => set.good[i]);
    const bad = picks === undefined ? set.bad : picks[k].bad.map((i) => set.bad[i]);
    const scores = [...good, ...bad].map(rule);
    const labels = [...good.map(() => 0), ...bad.map(() => 1)];
    total += recallAtFrr(scores, labels, 0.01) + recallAtFrr(scores, labels, 0.05);
  });
  return total / (2 * sets.length);
}
const rng = new Rng(7);
const draws = Array.from({ length: 1000 }, () =>
  sets.map((set) => ({ good: set.good.map(() => rng.int(0, set.good.length - 1)), bad: set.bad.map(() => rng.int(0, set.bad.length - 1)) })),
);
for (const [name, rule] of Object.entries(RULES)) {
  const point = criterion(rule);
  if (name === "default") {
    console.log(`${name}: ${point.toFixed(4)}`);
    continue;
  }
  const diffs = draws.map((picks) => criterion(rule, picks) - criterion(RULES.default, picks)).sort((x, y) => x - y);
  const share = diffs.filter((d) => d > 0).length / diffs.length;
  console.log(
    `${name}: ${point.toFixed(4)}; minus default, 95 % of resamples within [${diffs[25].toFixed(4)}, ${diffs[974].toFixed(4)}], above 0 in ${(100 * share).toFixed(0)} %`,
  );
}
