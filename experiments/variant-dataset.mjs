// A copy of a dataset in MVTec layout with every train/good and test image changed one way, to
// judge a preprocessing candidate with the tools that read such folders (painted-validation.mjs
// on training images; eval once for the test figures):
//   letterbox: padded with black to a square of its longer side (aspect kept, as the preprocess
//              node's letterbox resize does; ground-truth masks are not padded, so pixel figures
//              of such a copy are not comparable);
//   normalise: sharp's normalise() (luminance stretched to its 1-99 % range);
//   gain: every value multiplied by one factor so the image's mean is GAIN_TARGET (default 115 of
//         255): a camera's exposure taken out, contrast relative to the mean kept.
//   train_defect, where the dataset has it, is changed the same way.
//   node experiments/variant-dataset.mjs SOURCE DEST letterbox|normalise|gain
import { createRequire } from "node:module";
import { readdirSync, mkdirSync, symlinkSync, existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
const sharp = createRequire(join(resolve(new URL("..", import.meta.url).pathname), "package.json"))("sharp");
const [source, dest, mode] = process.argv.slice(2);
if (source === undefined || dest === undefined || !["letterbox", "normalise", "gain"].includes(mode)) {
  console.error("usage: node experiments/variant-dataset.mjs SOURCE DEST letterbox|normalise|gain");
  process.exit(2);
}
const GAIN_TARGET = Number(process.env.GAIN_TARGET || 115);
async function copyFolder(rel) {
  mkdirSync(join(dest, rel), { recursive: true });
  for (const name of readdirSync(join(source, rel)).sort()) {
    const path = join(source, rel, name);
    if (statSync(path).isDirectory()) continue;
    let image = sharp(path);
    if (mode === "normalise") image = image.normalise();
    else if (mode === "gain") {
      const { channels } = await sharp(path).stats();
      const colour = channels.slice(0, Math.min(3, channels.length));
      const mean = colour.reduce((s, c) => s + c.mean, 0) / colour.length;
      image = image.linear(GAIN_TARGET / Math.max(mean, 1), 0);
    } else {
      const { width, height } = await sharp(path).metadata();
      const side = Math.max(width, height);
      image = image.resize({ width: side, height: side, fit: "contain", background: { r: 0, g: 0, b: 0 } });
    }
    // PNG content whatever the name says: lossless, and the file names stay the dataset's.
    await image.png().toFile(join(dest, rel, name));
  }
}
const sub = (dir) => (existsSync(join(source, dir)) ? readdirSync(join(source, dir)).map((t) => `${dir}/${t}`) : []);
for (const rel of ["train/good", ...sub("test"), ...sub("train_defect")]) await copyFolder(rel);
if (existsSync(join(source, "ground_truth"))) symlinkSync(resolve(source, "ground_truth"), join(dest, "ground_truth"));
