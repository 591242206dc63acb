// Image-level nearest neighbours, a candidate second score beside PatchCore's (issue 15): each
// image's patch features averaged into one vector; its score is the distance to the nearest of
// the learned images' vectors (the first 200 sorted train/good). The same image sets, in the same
// order, as experiments/score-maps.mjs writes, so experiments/score-combine.mjs can pair them;
// `loo` holds each learned image's distance to the nearest other learned image.
// EXPOSURE=even: each image's exposure evened out first, as the detector does by default (even-exposure.ts).
//   [DATA=...] [BACKBONE=embedded|file LAYERS=...] [STATS=mean|meanstd] [K=1] [EXPOSURE=even] [TEST=1] OUT=/tmp/x.json node experiments/image-knn.mjs
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`image-knn skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { preprocessImage } = await L("lib/image/index.js");
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { exposureEvenedExtractor } = await L("lib/features/even-exposure.js");
const { paintedTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const backbone = process.env.BACKBONE || join(shared, "backbones", "resnet50v2_l123.onnx");
const layers = process.env.LAYERS || "layer2,layer3";
const { learn, validation, labelled, test } = validationSets(data);
const options = parseEvalDetector({ backbone, layers, size: "256" }, "patchcore", undefined);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const raw = await openPatchExtractor({ model: backbone, layers: layers.split(",") }, { intraOpNumThreads: 2 });
const extractor = process.env.EXPOSURE === "even" ? exposureEvenedExtractor(raw, options.folderPreprocess) : raw;
// STATS=meanstd: each channel's deviation over the patches too (texture, not only level).
const withDeviation = process.env.STATS === "meanstd";
const meanVector = async (tensor) => {
  const e = await extractor.embed(tensor);
  const v = new Float64Array(withDeviation ? 2 * e.dim : e.dim);
  for (let p = 0; p < e.patches; p++) for (let c = 0; c < e.dim; c++) v[c] += e.data[p * e.dim + c] / e.patches;
  if (withDeviation) {
    for (let p = 0; p < e.patches; p++) for (let c = 0; c < e.dim; c++) v[e.dim + c] += (e.data[p * e.dim + c] - v[c]) ** 2 / e.patches;
    for (let c = 0; c < e.dim; c++) v[e.dim + c] = Math.sqrt(v[e.dim + c]);
  }
  return v;
};
const distance = (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const learned = [];
for (const file of learn) learned.push(await meanVector(await tensorOf(file)));
// K=3: the mean distance to the 3 nearest instead of the nearest.
const K = Number(process.env.K || 1);
const score = (v, skip = -1) => {
  const nearest = learned
    .map((b, i) => (i === skip ? Infinity : distance(v, b)))
    .sort((a, b) => a - b)
    .slice(0, K);
  return nearest.reduce((s, d) => s + d, 0) / K;
};
const out = { data, good: [], painted: [], labelled: [], test: [], loo: learned.map((v, i) => score(v, i)) };
try {
  for (const file of validation) out.good.push({ score: score(await meanVector(await tensorOf(file))), file });
  for (const tensor of await paintedTensors(validation.slice(0, 60), options.folderPreprocess, 0.5, limits))
    out.painted.push({ score: score(await meanVector(tensor)) });
  for (const file of labelled) out.labelled.push({ score: score(await meanVector(await tensorOf(file))), file });
  if (process.env.TEST)
    for (const s of test) out.test.push({ score: score(await meanVector(await tensorOf(s.path))), file: s.path, defective: s.defective, type: s.type });
} finally {
  await extractor.release();
}
await writeFile(process.env.OUT || "/tmp/image-knn.json", JSON.stringify(out));
console.log(`written ${process.env.OUT}: ${out.good.length} good, ${out.painted.length} painted, ${out.labelled.length} labelled, ${out.test.length} test`);
