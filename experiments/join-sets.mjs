// Joins the sets one score-maps.mjs run wrote (e.g. ONLY=band) into another run's dump of the same
// detector, after checking that both scored the learned images (leave-one-out) and the validation
// good parts to the bit: then the two runs measured one model and their sets can be judged together.
//   node experiments/join-sets.mjs full.json extra.json out.json
import { readFileSync, writeFileSync } from "node:fs";

const [fullFile, extraFile, outFile] = process.argv.slice(2);
if (outFile === undefined) throw new Error("usage: node experiments/join-sets.mjs full.json extra.json out.json");
const [full, extra] = [fullFile, extraFile].map((file) => JSON.parse(readFileSync(file, "utf8")));
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
if (
  !same(full.loo, extra.loo) ||
  !same(
    full.good.map((r) => r.score),
    extra.good.map((r) => r.score),
  )
)
  throw new Error(`${fullFile} and ${extraFile} scored the learned or validation good parts differently: not one model`);
const joined = { ...full };
for (const [key, records] of Object.entries(extra)) if (Array.isArray(records) && records.length > 0 && !(full[key]?.length > 0)) joined[key] = records;
writeFileSync(outFile, JSON.stringify(joined));
console.log(
  `written ${outFile}: ${Object.keys(joined)
    .filter((k) => Array.isArray(joined[k]) && joined[k].length > 0 && k !== "loo")
    .map((k) => `${joined[k].length} ${k}`)
    .join(", ")}`,
);
