// Patch distances conditioned on the part's nearest learned images (SPADE's order: first the
// images, then the patches), a candidate score for defects made of surfaces that are each normal
// somewhere but not together (issue 15: magnetic_tile's "uneven" parts, two grinding finishes
// meeting on one tile). Each image's K nearest learned images by appearance (the mean of the patch
// features, as the appearance term) are found first; each of its patches is then scored against
// every patch of those K images only (exact, no coreset), and the image's score is the mean of its
// largest 1 % of patch distances. The same image sets, in the same order, as
// experiments/score-maps.mjs (FOREIGN=1 adds the texture copies), so it can be judged alone or
// added to the detector's score (criterion.mjs ADD=); `loo`: each learned image against the K
// nearest of the other learned images. Features as the detector's default: layer2 1 x 1, layer3
// 3 x 3, exposure evened.
//   [DATA=...] [K=10] [FOREIGN=1] [BAND=1] [COPIES=60|all] [TEST=1] OUT=/tmp/cond.json node experiments/image-conditioned-knn.mjs
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as ort from "onnxruntime-node";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`image-conditioned-knn skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { preprocessImage } = await L("lib/image/index.js");
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { exposureEvenedExtractor } = await L("lib/features/even-exposure.js");
const { GraphBuilder, attr } = await L("lib/onnx/graph-builder.js");
const { paintedTensors, foreignTextureTensors, bandTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const K = Number(process.env.K || 10);
const backbone = join(shared, "backbones", "resnet50v2_l123.onnx");
const layers = "layer2,layer3";
const { learn, validation, labelled, test } = validationSets(data);
const options = parseEvalDetector({ backbone, layers, size: "256" }, "patchcore", undefined);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const raw = await openPatchExtractor({ model: backbone, layers: layers.split(",") }, { intraOpNumThreads: 2 }, [1, 3]);
const extractor = exposureEvenedExtractor(raw, options.folderPreprocess);

/** Per query patch, the distance to its nearest row of a bank given as an input: [patches] out. */
function nearestGraph() {
  const g = new GraphBuilder({ name: "conditioned-nearest" });
  const q = g.input("q", "float32", ["p", "d"]);
  const b = g.input("b", "float32", ["n", "d"]);
  const bNorm = g.op("ReduceSum", [g.op("Mul", [b, b]), g.constantInt64("ax1", [1])], { keepdims: 0 });
  const qNorm = g.op("ReduceSum", [g.op("Mul", [q, q]), g.constantInt64("ax1q", [1])], { keepdims: 1 });
  const cross = g.op("Gemm", [q, b], { transB: 1, alpha: attr.float(-2) });
  const best = g.op("ReduceMin", [g.op("Add", [cross, bNorm])], { axes: [1], keepdims: 1 });
  const d = g.op("Sqrt", [g.op("Max", [g.op("Add", [best, qNorm]), g.constantFloat("zero", [0], [])])]);
  g.output(g.op("Reshape", [d, g.constantInt64("flat", [-1])]), "d", "float32", ["p"]);
  return g.build();
}
const session = await ort.InferenceSession.create(nearestGraph(), { intraOpNumThreads: 2 });

const meanOf = (e) => {
  const m = new Float32Array(e.dim);
  for (let p = 0; p < e.patches; p++) for (let c = 0; c < e.dim; c++) m[c] += e.data[p * e.dim + c];
  return m.map((v) => v / e.patches);
};
const learned = [];
for (const file of learn) {
  const e = await extractor.embed(await tensorOf(file));
  learned.push({ data: Float32Array.from(e.data), patches: e.patches, dim: e.dim, mean: meanOf(e) });
}
const nearestImages = (mean, skip) =>
  learned
    .map((l, i) => {
      let s = 0;
      for (let c = 0; c < mean.length; c++) s += (mean[c] - l.mean[c]) ** 2;
      return [s, i];
    })
    .filter(([, i]) => i !== skip)
    .sort((a, b) => a[0] - b[0])
    .slice(0, K)
    .map(([, i]) => i);
async function score(e, skip = -1) {
  const chosen = nearestImages(meanOf(e), skip);
  const bank = new Float32Array(chosen.length * e.patches * e.dim);
  chosen.forEach((i, j) => bank.set(learned[i].data, j * e.patches * e.dim));
  const out = await session.run({
    q: new ort.Tensor("float32", e.data, [e.patches, e.dim]),
    b: new ort.Tensor("float32", bank, [chosen.length * e.patches, e.dim]),
  });
  const d = Array.from(out.d.data).sort((a, b) => b - a);
  const top = Math.max(1, Math.round(d.length * 0.01));
  return d.slice(0, top).reduce((a, b) => a + b, 0) / top;
}
const out = { data, k: K, good: [], painted: [], foreign: [], band: [], labelled: [], test: [], loo: [] };
const COPIES = process.env.COPIES === "all" ? Infinity : Number(process.env.COPIES || 60);
const add = async (key, tensor, extra = {}) => out[key].push({ score: await score(await extractor.embed(tensor)), ...extra });
try {
  for (let i = 0; i < learned.length; i++) out.loo.push(await score(learned[i], i));
  for (const file of validation) await add("good", await tensorOf(file), { file });
  for (const tensor of await paintedTensors(validation.slice(0, COPIES), options.folderPreprocess, 0.5, limits)) await add("painted", tensor);
  if (process.env.FOREIGN)
    for (const tensor of await foreignTextureTensors(validation.slice(0, COPIES), options.folderPreprocess, limits)) await add("foreign", tensor);
  if (process.env.BAND) for (const tensor of await bandTensors(validation.slice(0, COPIES), options.folderPreprocess, limits)) await add("band", tensor);
  for (const file of labelled) await add("labelled", await tensorOf(file), { file });
  if (process.env.TEST) for (const s of test) await add("test", await tensorOf(s.path), { file: s.path, defective: s.defective, type: s.type });
} finally {
  await extractor.release();
  await session.release();
}
await writeFile(process.env.OUT || "/tmp/cond.json", JSON.stringify(out));
console.log(
  `written ${process.env.OUT}: K ${K}, ${out.good.length} good, ${out.painted.length} painted, ${out.foreign.length} foreign, ${out.band.length} band, ${out.labelled.length} labelled, ${out.test.length} test`,
);
