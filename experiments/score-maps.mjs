// Dumps what the detector node's engine answers for training-data validation images (and,
// with TEST=1, the test set) so that image-score rules can be compared offline without
// re-running the backbone: per image its score and its anomaly map pooled to POOL x POOL.
// Learning and validation sets: experiments/validation-sets.mjs; beside them, painted copies of
// the first 60 validation good parts (experiments/painted-copies.mjs); `loo`: the learned images'
// leave-one-out scores the detector hands to the threshold. Read by score-rules.mjs and score-combine.mjs.
//   [DATA=...] [METHOD=patchcore|padim] [LAYERS=...] [SIZE=256] [IMAGE_SCORE=...] [APPEARANCE_WEIGHT=...] [LOOKALIKES=7] [EXPOSURE=...] [NEIGHBOURHOOD=1|3|1,3] [PLACE_WEIGHTS=on|off] [CORESET=0.05] [SCORING_DIM=256] [RESIZE=stretch|letterbox] [PAD_VALUE=114] [BACKBONE=embedded|file] [FAINT=1] [FOREIGN=1] [BAND=1] [COPIES=60|all] [ONLY=band] [TEST=1] OUT=/tmp/x.json node experiments/score-maps.mjs
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`score-maps skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { openDetectorSubject } = await L("offline/eval/detector-subject.js");
const { preprocessImage } = await L("lib/image/index.js");
const { paintedTensors, faintAreaTensors, foreignTextureTensors, bandTensors } = await import(
  pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href
);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const POOL = Number(process.env.POOL || 64);
// Copies painted (and, with FAINT/FOREIGN, changed): of the first 60 validation good parts, or of every one (COPIES=all: the
// first 60 are the same copies, each image's paint is seeded by its place), for choices the 60 copies cannot resolve.
const COPIES = process.env.COPIES === "all" ? Infinity : Number(process.env.COPIES || 60);
const { learn, validation, labelled, test } = validationSets(data);
const options = parseEvalDetector(
  {
    backbone: process.env.BACKBONE || join(shared, "backbones", "resnet50v2_l123.onnx"),
    layers: process.env.LAYERS,
    size: process.env.SIZE || "256",
    "image-score": process.env.IMAGE_SCORE,
    "appearance-weight": process.env.APPEARANCE_WEIGHT,
    lookalikes: process.env.LOOKALIKES,
    exposure: process.env.EXPOSURE,
    neighbourhood: process.env.NEIGHBOURHOOD,
    "place-weights": process.env.PLACE_WEIGHTS,
    coreset: process.env.CORESET,
    "scoring-dim": process.env.SCORING_DIM,
  },
  process.env.METHOD || "patchcore",
  undefined,
);
const limits = { maxPixels: 1e8 };
// A resize or padding other than the detector's folder default (the preprocess node's choice on a line).
if (process.env.RESIZE) options.folderPreprocess = { ...options.folderPreprocess, resize: process.env.RESIZE };
if (process.env.PAD_VALUE) options.folderPreprocess = { ...options.folderPreprocess, padValue: Number(process.env.PAD_VALUE) };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const pooled = (map) => {
  const out = new Array(POOL * POOL).fill(0);
  const fx = map.width / POOL,
    fy = map.height / POOL;
  for (let y = 0; y < map.height; y++)
    for (let x = 0; x < map.width; x++) out[Math.floor(y / fy) * POOL + Math.floor(x / fx)] += map.data[y * map.width + x] / (fx * fy);
  return out.map((v) => +v.toFixed(4));
};
// ONLY=band: the learned images' leave-one-out scores, the validation good parts and the band copies alone (a quick look at one set).
const only = process.env.ONLY === "band";
const painted = only ? [] : await paintedTensors(validation.slice(0, COPIES), options.folderPreprocess, 0.5, limits);
const subject = await openDetectorSubject(options, process.cwd());
const faint = process.env.FAINT ? await faintAreaTensors(validation.slice(0, COPIES), options.folderPreprocess, limits) : [];
const foreign = process.env.FOREIGN ? await foreignTextureTensors(validation.slice(0, COPIES), options.folderPreprocess, limits) : [];
const band = process.env.BAND || only ? await bandTensors(validation.slice(0, COPIES), options.folderPreprocess, limits) : [];
const out = { data, pool: POOL, good: [], painted: [], faint: [], foreign: [], band: [], labelled: [], test: [] };
const record = (inspection, extra) => ({ score: inspection.score, max: Math.max(...inspection.map.data), map: pooled(inspection.map), ...extra });
try {
  const fitted = await subject.learn(learn, (error, file) => process.stderr.write(`skipped ${file}: ${error.message}\n`));
  out.loo = fitted.calibration?.scores ?? [];
  for (const file of validation) out.good.push(record(await subject.inspect(await tensorOf(file)), { file }));
  for (const tensor of painted) out.painted.push(record(await subject.inspect(tensor), {}));
  for (const tensor of faint) out.faint.push(record(await subject.inspect(tensor), {}));
  for (const tensor of foreign) out.foreign.push(record(await subject.inspect(tensor), {}));
  for (const tensor of band) out.band.push(record(await subject.inspect(tensor), {}));
  if (!only) for (const file of labelled) out.labelled.push(record(await subject.inspect(await tensorOf(file)), { file }));
  if (process.env.TEST && !only)
    for (const s of test) out.test.push(record(await subject.inspect(await tensorOf(s.path)), { file: s.path, defective: s.defective, type: s.type }));
} finally {
  await subject.release();
}
await writeFile(process.env.OUT || "/tmp/score-maps.json", JSON.stringify(out));
console.log(
  `written ${process.env.OUT}: ${out.good.length} good, ${out.painted.length} painted, ${out.faint.length} faint, ${out.foreign.length} foreign texture, ${out.band.length} band, ${out.labelled.length} labelled, ${out.test.length} test`,
);
