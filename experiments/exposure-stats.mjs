// Mean brightness and its deviation of a dataset's training images, grouped by the file name's
// prefix up to the first "_" (magnetic_tile: its acquisition conditions exp0 ... exp6), to see
// whether the conditions differ by exposure (a deviation that stays the same share of the mean)
// or by something else. Training images only.
//   node experiments/exposure-stats.mjs [DIR, default ../shared/datasets/magnetic_tile]
import { createRequire } from "node:module";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
const root = resolve(new URL("..", import.meta.url).pathname);
const sharp = createRequire(join(root, "package.json"))("sharp");
const data = process.argv[2] || join(root, "..", "shared", "datasets", "magnetic_tile");
const good = join(data, "train", "good");
if (!existsSync(good)) {
  console.log(`exposure-stats skipped: ${good} is not here`);
  process.exit(0);
}
const groups = new Map();
for (const name of readdirSync(good).sort()) {
  const { channels } = await sharp(join(good, name)).stats();
  const colour = channels.slice(0, Math.min(3, channels.length));
  const mean = colour.reduce((s, c) => s + c.mean, 0) / colour.length;
  const deviation = colour.reduce((s, c) => s + c.stdev, 0) / colour.length;
  const key = name.split("_")[0];
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push([mean, deviation]);
}
for (const [key, rows] of groups) {
  const mean = rows.reduce((s, r) => s + r[0], 0) / rows.length;
  const deviation = rows.reduce((s, r) => s + r[1], 0) / rows.length;
  console.log(
    `${key.padEnd(12)} ${String(rows.length).padStart(4)} images  mean ${mean.toFixed(1)}  deviation ${deviation.toFixed(1)} (${(deviation / mean).toFixed(2)} of the mean)`,
  );
}
