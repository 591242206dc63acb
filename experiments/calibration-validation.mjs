// Which good scores should a detector hand its threshold, judged on training images only (no test
// image is read). The detector learns the first 200 sorted train/good images through its own engine,
// as the node does; each candidate set of calibration scores gives a split-conformal threshold at
// 1 % and 5 % (the threshold node's quantile mode), and the false-reject rate that threshold gives
// on train/good images from 400 on (never learned, never calibrated on) tells whether the promise
// holds:
//   (a) leave-one-out: the detector's handed-over scores, each learned image against the bank
//       without its own rows (one more backbone pass and search per learned image);
//   (b) held-back: the detector learns the first 100 and holds back the next 100 (n >= 99 is what
//       a 1 % promise needs), scored by the model of 100;
//   (c) extra images: train/good 200-400 scored by the 200-image model (what `line --calibrate`
//       did: 200 more good images than the model learned);
//   (d) learned: the 200 learned images scored against the whole bank (biased low).
// The cost of (b), a model of half the images, is shown on painted defects (offline/synth) on the
// validation images: image AUROC of validation good vs their painted copies, for both models.
// ORDER=random shuffles train/good first (seeded): every split is then exchangeable with the
// others, which the sorted order is not where file names group conditions (magnetic_tile's
// exp0..exp6: its first 200 sorted images are exp0-exp2 only).
//   DS=magnetic_tile [ORDER=random] node experiments/calibration-validation.mjs
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
if (!existsSync(shared)) {
  console.log(`calibration-validation skipped: ${shared} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { openDetectorSubject } = await L("offline/eval/detector-subject.js");
const { readMvtecDataset } = await L("offline/eval/mvtec-dataset.js");
const { preprocessImage } = await L("lib/image/index.js");
const { conformalThreshold } = await L("lib/threshold/calibrate-good.js");
const { auroc } = await L("lib/metrics/index.js");
const { paintedTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);

const ds = process.env.DS || "magnetic_tile";
const PAINTED = Number(process.env.PAINTED || 60);
const BLEND = Number(process.env.BLEND || 0.5);
const data = join(shared, "datasets", ds);
const sorted = readMvtecDataset(data).train;
const { Rng } = await L("lib/random.js");
function shuffled(list, seed) {
  const out = [...list];
  const rng = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.range(0, i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
const train = process.env.ORDER === "random" ? shuffled(sorted, 42) : sorted;
const validation = train.slice(400);
const options = parseEvalDetector(
  { backbone: join(shared, "backbones", "resnet50v2_l123.onnx"), layers: "layer2,layer3", size: "256", threads: process.env.THREADS },
  "patchcore",
  undefined,
);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const log = (line) => process.stderr.write(`${line}\n`);

async function scoreAll(subject, files) {
  const out = [];
  for (const file of files) out.push((await subject.inspect(await tensorOf(file))).score);
  return out;
}

// Painted copies of the first PAINTED validation images.
const painted = await paintedTensors(validation.slice(0, PAINTED), options.folderPreprocess, BLEND, limits);

function frrAt(threshold, scores) {
  return scores.filter((s) => s >= threshold).length / scores.length;
}

function row(name, calibration, validationScores, extra = {}) {
  const out = { candidate: name, n: calibration.length };
  for (const rate of [1, 5]) {
    try {
      const { threshold, promise } = conformalThreshold(calibration, rate);
      out[`promised_${rate}`] = +promise.frr.toFixed(4);
      out[`frr_${rate}`] = +frrAt(threshold, validationScores).toFixed(4);
    } catch (error) {
      out[`frr_${rate}`] = `refused: ${error.message}`;
    }
  }
  return { ...out, ...extra };
}

async function paintedAuroc(subject, validationScores) {
  const scores = [];
  for (const tensor of painted) scores.push((await subject.inspect(tensor)).score);
  const good = validationScores.slice(0, PAINTED);
  return +auroc([...good, ...scores], [...good.map(() => 0), ...scores.map(() => 1)]).toFixed(4);
}

const rows = [];
const skip = (error, file) => log(`skipped ${file}: ${error.message}`);
{
  const subject = await openDetectorSubject(options, process.cwd());
  try {
    let t0 = performance.now();
    const fitted = await subject.learn(train.slice(0, 200), skip);
    const fitSeconds = (performance.now() - t0) / 1000;
    log(`${ds}: learned 200 in ${fitSeconds.toFixed(1)} s (with the leave-one-out scores)`);
    const loo = fitted.calibration?.scores ?? [];
    t0 = performance.now();
    const v = await scoreAll(subject, validation);
    log(`scored ${validation.length} validation images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const extraImages = await scoreAll(subject, train.slice(200, 400));
    const learned = await scoreAll(subject, train.slice(0, 200));
    const synthetic = await paintedAuroc(subject, v);
    rows.push(row("(a) leave-one-out, 200 learned", loo, v, { learned: 200, painted_auroc: synthetic, fit_s: +fitSeconds.toFixed(1) }));
    rows.push(row("(c) 200 extra images, 200 learned", extraImages, v, { learned: 200, painted_auroc: synthetic }));
    rows.push(row("(d) learned images against the whole bank", learned, v, { learned: 200, painted_auroc: synthetic }));
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    log(
      `mean scores: leave-one-out ${mean(loo).toFixed(3)}, extra ${mean(extraImages).toFixed(3)}, learned ${mean(learned).toFixed(3)}, validation ${mean(v).toFixed(3)}`,
    );
  } finally {
    await subject.release();
  }
}
{
  // The fit without the leave-one-out scores: what they cost.
  const subject = await openDetectorSubject(options, process.cwd(), { leaveOneOut: false });
  try {
    const t0 = performance.now();
    await subject.learn(train.slice(0, 200), skip);
    rows.push({ candidate: "fit of 200 without leave-one-out", fit_s: +((performance.now() - t0) / 1000).toFixed(1) });
  } finally {
    await subject.release();
  }
}
{
  const subject = await openDetectorSubject(options, process.cwd(), { leaveOneOut: false });
  try {
    await subject.learn(train.slice(0, 100), skip);
    const heldBack = await scoreAll(subject, train.slice(100, 200));
    const v = await scoreAll(subject, validation);
    rows.push(row("(b) held back 100 of 200, 100 learned", heldBack, v, { learned: 100, painted_auroc: await paintedAuroc(subject, v) }));
  } finally {
    await subject.release();
  }
}
console.log(
  JSON.stringify({ dataset: ds, order: process.env.ORDER || "sorted", validation: validation.length, painted: PAINTED, blend: BLEND, rows }, null, 1),
);
