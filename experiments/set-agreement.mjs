// Which validation set can be trusted to rank candidates: over the candidates' score-maps.mjs dumps,
// each set's mean recall (at 1 % and 5 % false rejects of the validation good parts) per candidate,
// and the rank correlation (Spearman) between sets across the candidates. casting's labelled
// defects are real and training data, so a synthetic set that ranks candidates as they do earns
// trust there; the test columns (mean recall on the test set) are printed as seen, never chosen on.
//   DIR=/tmp/sm3 NAMES=xd,k3,wh0.25,... node experiments/set-agreement.mjs   (reads <DIR>/magn-<name>.json and cast-<name>.json)
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { recallAtFrr } = await import(pathToFileURL(join(root, "dist", "lib", "metrics", "ranking.js")).href);

const dir = process.env.DIR || "/tmp/sm3";
const names = (process.env.NAMES || "").split(",").filter(Boolean);
if (names.length < 3) throw new Error("NAMES needs at least three candidates' dump names");
const labelled = (good, bad) => [
  [...good, ...bad],
  [...good.map(() => 0), ...bad.map(() => 1)],
];
const meanRecall = (good, bad) => (recallAtFrr(...labelled(good, bad), 0.01) + recallAtFrr(...labelled(good, bad), 0.05)) / 2;
const scores = (rows) => rows.map((r) => r.score);
const setRecall = (dump, key) => (dump?.[key]?.length ? meanRecall(scores(dump.good), scores(dump[key])) : Number.NaN);
const testRecall = (dump) =>
  dump?.test?.length ? meanRecall(scores(dump.test.filter((r) => !r.defective)), scores(dump.test.filter((r) => r.defective))) : Number.NaN;
const read = (file) => (existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null);

const COLUMNS = {
  "casting painted": (c) => setRecall(c.cast, "painted"),
  "casting texture": (c) => setRecall(c.cast, "foreign"),
  "casting band": (c) => setRecall(c.cast, "band"),
  "casting labelled": (c) => setRecall(c.cast, "labelled"),
  "magnetic painted": (c) => setRecall(c.magn, "painted"),
  "magnetic texture": (c) => setRecall(c.magn, "foreign"),
  "magnetic band": (c) => setRecall(c.magn, "band"),
  "magnetic test (seen)": (c) => testRecall(c.magn),
};
const table = names.map((name) => {
  const c = { magn: read(join(dir, `magn-${name}.json`)), cast: read(join(dir, `cast-${name}.json`)) };
  return { name, ...Object.fromEntries(Object.entries(COLUMNS).map(([k, f]) => [k, f(c)])) };
});
const keys = Object.keys(COLUMNS).filter((k) => table.some((r) => !Number.isNaN(r[k])));
const f = (x) => (Number.isNaN(x) ? "-" : x.toFixed(3));
console.log(["candidate", ...keys].join(" | "));
for (const r of table) console.log([r.name, ...keys.map((k) => f(r[k]))].join(" | "));

/** Ranks with ties averaged, so candidates level on a set do not order themselves by chance. */
function ranks(xs) {
  const order = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
  const out = new Array(xs.length);
  for (let s = 0; s < order.length;) {
    let e = s;
    while (e + 1 < order.length && order[e + 1][0] === order[s][0]) e++;
    for (let j = s; j <= e; j++) out[order[j][1]] = (s + e) / 2;
    s = e + 1;
  }
  return out;
}
function spearman(a, b) {
  const both = a.map((x, i) => !Number.isNaN(x) && !Number.isNaN(b[i]));
  const ra = ranks(a.filter((_, i) => both[i]));
  const rb = ranks(b.filter((_, i) => both[i]));
  const n = ra.length;
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / n;
  const [ma, mb] = [mean(ra), mean(rb)];
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) ** 2;
    sbb += (rb[i] - mb) ** 2;
  }
  return { rho: saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Number.NaN, n };
}
console.log("\nrank agreement across the candidates (Spearman rho, candidates with both sets):");
for (let i = 0; i < keys.length; i++)
  for (let j = i + 1; j < keys.length; j++) {
    const { rho, n } = spearman(
      table.map((r) => r[keys[i]]),
      table.map((r) => r[keys[j]]),
    );
    if (n >= 3) console.log(`  ${keys[i]} ~ ${keys[j]}: ${f(rho)} (${n})`);
  }
