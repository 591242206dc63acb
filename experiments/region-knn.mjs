// Region-level nearest neighbours, a candidate third score between PatchCore's patches and the
// part's whole appearance (issue 15, large faint defects): each image's patch features averaged
// over square windows of the patch grid (WINDOWS="size:stride,...", in patches of the finest
// grid); a window's distance is to the nearest window of any learned image, wherever it lies, and
// the image's score the largest over its windows. The same image sets, in the same order, as
// experiments/score-maps.mjs (FOREIGN=1 adds the texture copies), so the two can be paired;
// `loo`: each learned image scored against the windows of the other learned images.
// Exposure is evened first, as the detector does by default. One output file per window size.
//   [DATA=...] [WINDOWS=8:4,16:8] [FOREIGN=1] [BAND=1] [COPIES=60|all] [TEST=1] OUT=/tmp/region node experiments/region-knn.mjs  -> /tmp/region-w8s4.json ...
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const data = process.env.DATA || join(shared, "datasets", "magnetic_tile");
if (!existsSync(data)) {
  console.log(`region-knn skipped: ${data} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { parseEvalDetector } = await L("cli/eval-options.js");
const { preprocessImage } = await L("lib/image/index.js");
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { exposureEvenedExtractor } = await L("lib/features/even-exposure.js");
const { openNearestSearch } = await L("lib/anomaly/patchcore/nearest.js");
const { paintedTensors, foreignTextureTensors, bandTensors } = await import(pathToFileURL(join(root, "experiments", "painted-copies.mjs")).href);
const { validationSets } = await import(pathToFileURL(join(root, "experiments", "validation-sets.mjs")).href);

const backbone = join(shared, "backbones", "resnet50v2_l123.onnx");
const layers = "layer2,layer3";
const windows = (process.env.WINDOWS || "8:4,16:8").split(",").map((w) => w.split(":").map(Number));
const { learn, validation, labelled, test } = validationSets(data);
const options = parseEvalDetector({ backbone, layers, size: "256" }, "patchcore", undefined);
const limits = { maxPixels: 1e8 };
const tensorOf = async (path) => (await preprocessImage(await readFile(path), options.folderPreprocess, limits)).tensor;
const raw = await openPatchExtractor({ model: backbone, layers: layers.split(",") }, { intraOpNumThreads: 2 });
const extractor = exposureEvenedExtractor(raw, options.folderPreprocess);

/** Each window's mean feature vector, row-major [windows, dim]. */
function regionVectors(e, size, stride) {
  const starts = (n) => {
    const list = [];
    for (let s = 0; s + size <= n; s += stride) list.push(s);
    if (list[list.length - 1] !== n - size) list.push(n - size);
    return list;
  };
  const ys = starts(e.gridHeight),
    xs = starts(e.gridWidth);
  const out = new Float32Array(ys.length * xs.length * e.dim);
  let w = 0;
  for (const y0 of ys)
    for (const x0 of xs) {
      const base = w * e.dim;
      for (let y = y0; y < y0 + size; y++)
        for (let x = x0; x < x0 + size; x++) {
          const p = (y * e.gridWidth + x) * e.dim;
          for (let c = 0; c < e.dim; c++) out[base + c] += e.data[p + c] / (size * size);
        }
      w++;
    }
  return { rows: out, count: ys.length * xs.length, dim: e.dim };
}

const embedOf = async (tensor) => extractor.embed(tensor);
const learnedEmbeds = [];
for (const file of learn) {
  const e = await embedOf(await tensorOf(file));
  learnedEmbeds.push(windows.map(([size, stride]) => regionVectors(e, size, stride)));
}
const searches = [];
for (let k = 0; k < windows.length; k++) {
  const per = learnedEmbeds[0][k].count,
    dim = learnedEmbeds[0][k].dim;
  const bank = new Float32Array(learnedEmbeds.length * per * dim);
  learnedEmbeds.forEach((r, i) => bank.set(r[k].rows, i * per * dim));
  searches.push({ search: await openNearestSearch(bank, learnedEmbeds.length * per, dim, { intraOpNumThreads: 2 }), per });
}
const outs = windows.map(() => ({ data, good: [], painted: [], foreign: [], band: [], labelled: [], test: [], loo: [] }));
// As score-maps.mjs: copies of the first 60 validation good parts, or of every one.
const COPIES = process.env.COPIES === "all" ? Infinity : Number(process.env.COPIES || 60);
async function scores(regions, skip = -1) {
  const result = [];
  for (let k = 0; k < windows.length; k++) {
    const { search, per } = searches[k];
    const r = regions[k];
    const found = await search.search(r.rows, r.count, skip < 0 ? 1 : per + 1);
    let worst = 0;
    for (let q = 0; q < r.count; q++)
      for (let j = 0; j < found.k; j++) {
        if (Math.floor(found.indices[q * found.k + j] / per) === skip) continue;
        worst = Math.max(worst, found.distances[q * found.k + j]);
        break;
      }
    result.push(worst);
  }
  return result;
}
const add = async (key, tensor, extra = {}) => {
  const e = await embedOf(tensor);
  const s = await scores(windows.map(([size, stride]) => regionVectors(e, size, stride)));
  s.forEach((score, k) => outs[k][key].push({ score, ...extra }));
};
try {
  for (let i = 0; i < learnedEmbeds.length; i++) (await scores(learnedEmbeds[i], i)).forEach((score, k) => outs[k].loo.push(score));
  for (const file of validation) await add("good", await tensorOf(file), { file });
  for (const tensor of await paintedTensors(validation.slice(0, COPIES), options.folderPreprocess, 0.5, limits)) await add("painted", tensor);
  if (process.env.FOREIGN)
    for (const tensor of await foreignTextureTensors(validation.slice(0, COPIES), options.folderPreprocess, limits)) await add("foreign", tensor);
  if (process.env.BAND) for (const tensor of await bandTensors(validation.slice(0, COPIES), options.folderPreprocess, limits)) await add("band", tensor);
  for (const file of labelled) await add("labelled", await tensorOf(file), { file });
  if (process.env.TEST) for (const s of test) await add("test", await tensorOf(s.path), { file: s.path, defective: s.defective, type: s.type });
} finally {
  await extractor.release();
  for (const { search } of searches) await search.release();
}
const base = process.env.OUT || "/tmp/region";
for (let k = 0; k < windows.length; k++) {
  const [size, stride] = windows[k];
  await writeFile(`${base}-w${size}s${stride}.json`, JSON.stringify(outs[k]));
}
console.log(
  `written ${base}-w*: ${outs[0].good.length} good, ${outs[0].painted.length} painted, ${outs[0].foreign.length} foreign, ${outs[0].band.length} band, ${outs[0].labelled.length} labelled, ${outs[0].test.length} test`,
);
