// Scores calibrated against the part's look-alikes (issue 15, a candidate against false rejects of
// good parts that score high by their kind, not by a defect: magnetic_tile's elongated crops show
// more edge and background, and score higher, in the learned and the validation good parts alike).
// Each image's K nearest learned images by appearance (the mean of the patch features, as the
// appearance term) are found, and the image's score is lowered by lambda times how far their
// leave-one-out scores lie above the mean leave-one-out score: s' = s - lambda (mean of the K
// learned images' leave-one-out scores - mean of all). The learned images' own leave-one-out scores
// are adjusted the same way with themselves left out, so the threshold's promise can be judged.
// Reads a score-maps.mjs dump (FOREIGN=1, 60 copies) of the same dataset and writes one dump a
// setting, for experiments/criterion.mjs.
//   SCORES=/tmp/sm3/magn-xd.json [DATA=...] [K=5,10,20] [LAMBDA=0.5,1] OUT=/tmp/lc node experiments/local-calibration.mjs  -> /tmp/lc-k10-l1.json ...
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`local-calibration skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { preprocessImage } = await L("lib/image/index.js");
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { exposureEvenedExtractor } = await L("lib/features/even-exposure.js");
const { paintedTensors, foreignTextureTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const dump = JSON.parse(await readFile(process.env.SCORES, "utf8"));
const Ks = (process.env.K || "5,10,20").split(",").map(Number);
const lambdas = (process.env.LAMBDA || "0.5,1").split(",").map(Number);
const backbone = join(shared, "backbones", "resnet50v2_l123.onnx");
const layers = "layer2,layer3";
const { learn, validation, labelled, test } = validationSets(data);
const options = parseEvalDetector({ backbone, layers, size: "256" }, "patchcore", undefined);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const raw = await openPatchExtractor({ model: backbone, layers: layers.split(",") }, { intraOpNumThreads: 2 }, [1, 3]);
const extractor = exposureEvenedExtractor(raw, options.folderPreprocess);
const meanVector = async (tensor) => {
  const e = await extractor.embed(tensor);
  const v = new Float64Array(e.dim);
  for (let p = 0; p < e.patches; p++) for (let c = 0; c < e.dim; c++) v[c] += e.data[p * e.dim + c] / e.patches;
  return v;
};
const vectors = { learn: [], good: [], painted: [], foreign: [], labelled: [], test: [] };
try {
  for (const file of learn) vectors.learn.push(await meanVector(await tensorOf(file)));
  for (const file of validation) vectors.good.push(await meanVector(await tensorOf(file)));
  for (const t of await paintedTensors(validation.slice(0, 60), options.folderPreprocess, 0.5, limits)) vectors.painted.push(await meanVector(t));
  if (dump.foreign.length > 0)
    for (const t of await foreignTextureTensors(validation.slice(0, 60), options.folderPreprocess, limits)) vectors.foreign.push(await meanVector(t));
  for (const file of labelled) vectors.labelled.push(await meanVector(await tensorOf(file)));
  if (dump.test.length > 0) for (const s of test) vectors.test.push(await meanVector(await tensorOf(s.path)));
} finally {
  await extractor.release();
}
for (const key of ["good", "painted", "foreign", "labelled", "test"]) {
  if (vectors[key].length !== dump[key].length) throw new Error(`${key}: ${vectors[key].length} vectors for ${dump[key].length} scores`);
}
const looMean = dump.loo.reduce((a, b) => a + b, 0) / dump.loo.length;
const distance = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
};
/** Mean leave-one-out score of the K learned images nearest `v`, `skip` left out. */
const localLevel = (v, K, skip = -1) =>
  vectors.learn
    .map((b, i) => [i === skip ? Infinity : distance(v, b), i])
    .sort((a, b) => a[0] - b[0])
    .slice(0, K)
    .reduce((s, [, i]) => s + dump.loo[i], 0) / K;
const base = process.env.OUT || "/tmp/lc";
for (const K of Ks)
  for (const lambda of lambdas) {
    const adjust = (score, v, skip) => score - lambda * (localLevel(v, K, skip) - looMean);
    const out = { data, pool: dump.pool, k: K, lambda, loo: dump.loo.map((s, i) => adjust(s, vectors.learn[i], i)) };
    for (const key of ["good", "painted", "foreign", "band", "labelled", "test"])
      out[key] = (dump[key] ?? []).map((r, i) => ({ ...r, map: undefined, score: adjust(r.score, vectors[key][i]) }));
    await writeFile(`${base}-k${K}-l${lambda}.json`, JSON.stringify(out));
  }
console.log(`written ${base}-k{${Ks}}-l{${lambdas}}.json`);
