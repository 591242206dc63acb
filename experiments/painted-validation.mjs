// A candidate setting judged on training images only (no test image is read), for issue 15's
// choices on datasets whose training split has no labelled defects (magnetic_tile): the detector
// node's engine learns the first 200 sorted train/good images; train/good from 400 on (never
// learned) are the validation good parts, and copies of the first PAINTED of them with one
// synthetic defect painted on (the package's own generator, offline/synth, at BLEND strength) the
// defective ones. Printed: the painted copies' image AUROC and recall at 1 % / 5 % false rejects
// of the validation good parts, and the false-reject rate on those good parts of the threshold the
// detector's leave-one-out scores give at 1 % / 5 % promised (split conformal, as the threshold node).
//   [DATA=folder in MVTec layout] [LAYERS=layer2,layer3] [SIZE=256] [IMAGE_SCORE=...] node experiments/painted-validation.mjs
// DATA defaults to ../shared/datasets/magnetic_tile; experiments/variant-dataset.mjs makes copies
// of a dataset with each image padded square (letterbox) or contrast-normalised.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`painted-validation skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { openDetectorSubject } = await L("offline/eval/detector-subject.js");
const { preprocessImage } = await L("lib/image/index.js");
const { conformalThreshold } = await L("lib/threshold/calibrate-good.js");
const { auroc } = await L("lib/metrics/index.js");
const { recallAtFrr } = await L("lib/metrics/ranking.js");
const { paintedTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const PAINTED = Number(process.env.PAINTED || 60);
const BLEND = Number(process.env.BLEND || 0.5);
const { learn, validation } = validationSets(data);
const options = parseEvalDetector(
  {
    backbone: join(shared, "backbones", "resnet50v2_l123.onnx"),
    layers: process.env.LAYERS || "layer2,layer3",
    size: process.env.SIZE || "256",
    threads: process.env.THREADS,
    "image-score": process.env.IMAGE_SCORE,
  },
  "patchcore",
  undefined,
);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;

// Painted copies of the first PAINTED validation images.
const painted = await paintedTensors(validation.slice(0, PAINTED), options.folderPreprocess, BLEND, limits);

const subject = await openDetectorSubject(options, process.cwd());
const out = { data, learned: learn.length, validation: validation.length, painted: painted.length, blend: BLEND };
try {
  const fitted = await subject.learn(learn, (error, file) => process.stderr.write(`skipped ${file}: ${error.message}\n`));
  const good = [];
  for (const file of validation) good.push((await subject.inspect(await tensorOf(file))).score);
  const defective = [];
  for (const tensor of painted) defective.push((await subject.inspect(tensor)).score);
  const scores = [...good, ...defective];
  const labels = [...good.map(() => 0), ...defective.map(() => 1)];
  out.painted_auroc = +auroc(scores, labels).toFixed(4);
  out.painted_recall_at_frr_1 = +recallAtFrr(scores, labels, 0.01).toFixed(3);
  out.painted_recall_at_frr_5 = +recallAtFrr(scores, labels, 0.05).toFixed(3);
  const loo = fitted.calibration?.scores ?? [];
  for (const rate of [1, 5]) {
    const { threshold } = conformalThreshold(loo, rate);
    out[`frr_at_${rate}_promised`] = +(good.filter((s) => s >= threshold).length / good.length).toFixed(4);
  }
} finally {
  await subject.release();
}
console.log(JSON.stringify(out));
