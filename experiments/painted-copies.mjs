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
    let painted = sharp(Buffer.from(image.data), { raw: { width: size, height: size, channels: image.channels } });
    if (preprocess.resize === "letterbox") {
      // The generator paints squares: the painted copy is squeezed back to the part's own aspect
      // ratio, so that letterboxing pads it as it pads the learned images.
      const { width, height } = await sharp(await readFile(path)).metadata();
      const s = Math.min(size / width, size / height);
      painted = sharp(await painted.png().toBuffer()).resize(Math.max(1, Math.round(width * s)), Math.max(1, Math.round(height * s)), { fit: "fill" });
    }
    const png = await painted.png().toBuffer();
    tensors.push((await preprocessImage(png, preprocess, limits)).tensor);
  }
  return tensors;
}

/** A small deterministic generator (mulberry32), so every run paints the same areas. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Tensors of copies of `paths`, each changed by `paint` at the image's own size inside one random
 * ellipse (centre within the middle 60 %, radii 15-35 % of the sides): `paint(image, area, rand)`
 * returns the changed raw pixels. `seed(i)` seeds image i's draws, so every run paints the same.
 */
async function paintedAtOwnSize(paths, seed, preprocess, limits, paint) {
  const tensors = [];
  for (const [i, path] of paths.entries()) {
    const rand = random(seed(i));
    const bytes = await readFile(path);
    const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width, height, channels } = info;
    const area = { cx: width * (0.2 + 0.6 * rand()), cy: height * (0.2 + 0.6 * rand()) };
    area.rx = width * (0.15 + 0.2 * rand());
    area.ry = height * (0.15 + 0.2 * rand());
    const out = await paint({ bytes, data, width, height, channels }, area, rand);
    const png = await sharp(out, { raw: { width, height, channels } }).png().toBuffer();
    tensors.push((await preprocessImage(png, preprocess, limits)).tensor);
  }
  return tensors;
}

/**
 * Raw pixels of `data` blended towards `target(q, x, y)` by `weight(x, y)` (0: unchanged, 1: the
 * target), rounded and kept within 0-255.
 */
function blended({ data, width, height, channels }, weight, target) {
  const out = Buffer.from(data);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const w = weight(x, y);
      if (w <= 0) continue;
      for (let c = 0; c < channels; c++) {
        const q = (y * width + x) * channels + c;
        out[q] = Math.max(0, Math.min(255, Math.round((1 - w) * data[q] + w * target(q, x, y))));
      }
    }
  return out;
}

/**
 * Tensors of copies of `paths` with one large faint area each: the brightness scaled by 1 +-
 * amplitude (0.10 to 0.20, either sign) under a smooth Gaussian blob over the ellipse. It stands for
 * the defects painted copies above do not: wide, low-contrast areas (uneven surfaces, stains, mura)
 * with no edge for a patch to see.
 */
export function faintAreaTensors(paths, preprocess, limits = { maxPixels: 1e8 }) {
  return paintedAtOwnSize(
    paths,
    (i) => 7919 * i + 17,
    preprocess,
    limits,
    (image, { cx, cy, rx, ry }, rand) => {
      const amplitude = (rand() < 0.5 ? -1 : 1) * (0.1 + 0.1 * rand());
      const gain = (x, y) => 1 + amplitude * Math.exp(-0.5 * (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2));
      return blended(
        image,
        () => 1,
        (q, x, y) => image.data[q] * gain(x, y),
      );
    },
  );
}

/**
 * Tensors of copies of `paths` with one wide area of changed texture each: inside the soft-edged
 * ellipse the part's own surface from another place, turned a quarter, is blended in at 40-70 %.
 * Same brightness, other texture direction: an uneven finish or a reworked area, which neither the
 * small painted defects nor exposure-evened brightness blobs (faintAreaTensors) stand for.
 */
export function foreignTextureTensors(paths, preprocess, limits = { maxPixels: 1e8 }) {
  return paintedAtOwnSize(
    paths,
    (i) => 104729 * i + 31,
    preprocess,
    limits,
    async (image, { cx, cy, rx, ry }, rand) => {
      const { width, height } = image;
      const turned = await sharp(image.bytes).removeAlpha().rotate(90).resize(width, height, { fit: "fill" }).raw().toBuffer();
      const alpha = 0.4 + 0.3 * rand();
      return blended(
        image,
        (x, y) => alpha * Math.min(1, Math.max(0, (1.2 - Math.hypot((x - cx) / rx, (y - cy) / ry)) / 0.4)),
        (q) => turned[q],
      );
    },
  );
}

/**
 * Tensors of copies of `paths` in which a band across the part (its top or bottom 15-45 %) is ground
 * otherwise: its own surface smoothed (Gaussian blur of 1.5-3 px) or its grain sharpened (twice
 * the detail above that blur added), and its brightness scaled by 0.85-1.15, meeting the rest at a
 * straight edge: two finishes on one part, as an unevenly ground surface shows. The edge is
 * softened over 1 % of the height and wanders by up to 1.5 % along the width. The part's outline
 * stays where it is.
 */
export async function bandTensors(paths, preprocess, limits = { maxPixels: 1e8 }) {
  return paintedAtOwnSize(
    paths,
    (i) => 7907 * i + 43,
    preprocess,
    limits,
    async (image, _area, rand) => {
      const { data, width, height } = image;
      const sigma = 1.5 + 1.5 * rand();
      const blurred = await sharp(image.bytes).removeAlpha().blur(sigma).raw().toBuffer();
      const smooth = rand() < 0.5;
      const gain = 0.85 + 0.3 * rand();
      const top = rand() < 0.5;
      const edge = height * (0.15 + 0.3 * rand());
      const wander = height * 0.01 * (rand() + 0.5);
      const phase = 2 * Math.PI * rand();
      const soft = Math.max(1, height * 0.01);
      return blended(
        image,
        (x, y) => {
          const line = edge + wander * Math.sin(phase + (2 * Math.PI * x) / width);
          return Math.min(1, Math.max(0, 0.5 + (top ? line - y : y - (height - line)) / soft));
        },
        (q) => gain * (smooth ? blurred[q] : data[q] + 2 * (data[q] - blurred[q])),
      );
    },
  );
}
