// Painted copies of good images for validations on training data (no labelled defect needed): one
// synthetic defect each from the package's generator (offline/synth), kinds in turn, blended in at
// `blend` strength, then preprocessed as the detector's folder learning would.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const sharp = createRequire(join(root, "package.json"))("sharp");
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { preprocessImage } = await L("lib/image/index.js");
const { paintDefect } = await L("offline/synth/index.js");

const KINDS = ["scratch", "spot", "crack", "hole", "missing-print"];

/** Tensors of the painted copies of `paths`, at `preprocess`'s size. */
export async function paintedTensors(paths, preprocess, blend, limits = { maxPixels: 1e8 }) {
  const tensors = [];
  for (const [i, path] of paths.entries()) {
    const size = preprocess.width;
    const { data: raw, info } = await sharp(await readFile(path))
      .resize(size, size, { fit: "fill" })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const img = { data: new Uint8Array(raw), width: size, height: size, channels: info.channels, bitDepth: 8 };
    const { image } = paintDefect(img, KINDS[i % KINDS.length], 7919 * i + 1);
    for (let q = 0; q < image.data.length; q++) image.data[q] = Math.round(img.data[q] + blend * (image.data[q] - img.data[q]));
    const png = await sharp(Buffer.from(image.data), { raw: { width: size, height: size, channels: image.channels } })
      .png()
      .toBuffer();
    tensors.push((await preprocessImage(png, preprocess, limits)).tensor);
  }
  return tensors;
}
