// How often the integer-ranked candidates of the subspace search (src/lib/anomaly/patchcore/
// candidate-search.ts) miss the exact nearest bank row, judged on training images only: a bank is
// learned from the first TRAIN good training images with the unsupervised defaults, and the next
// HOLD training images (never learned) are searched exactly and with each candidate margin.
//   DS=magnetic_tile [TRAIN=200] [HOLD=40] node experiments/candidate-recall.mjs
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as ort from "onnxruntime-node";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
if (!existsSync(shared)) {
  console.log(`candidate-recall skipped: ${shared} is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { parsePreprocessOptions, preprocessImage, DEFAULT_MAX_PIXELS } = await L("lib/image/index.js");
const { DEFAULT_PATCHCORE_OPTIONS, buildMemoryBank } = await L("lib/anomaly/patchcore/patchcore.js");
const { searchSpaceBank, openSearchOver } = await L("lib/anomaly/patchcore/nearest.js");
const { addBankConstants, addNearestRows, quantiseBank } = await L("lib/anomaly/patchcore/candidate-search.js");
const { GraphBuilder, toOrtOptions } = await L("lib/onnx/index.js");
const { matmul } = await L("lib/linalg/matmul.js");
const { readMvtecDataset } = await L("offline/eval/mvtec-dataset.js");

const ds = process.env.DS || "magnetic_tile";
const TRAIN = Number(process.env.TRAIN || 200);
const HOLD = Number(process.env.HOLD || 40);
const MARGINS = [0, 1, 3, 7];
const dataset = readMvtecDataset(join(shared, "datasets", ds));
const preprocess = parsePreprocessOptions({ preset: "imagenet", width: 256, height: 256, resize: "stretch" });
const session = { intraOpThreads: 2 };
const extractor = await openPatchExtractor({ model: join(shared, "backbones", "resnet50v2_l123.onnx"), layers: ["layer2", "layer3"] }, session);
const embed = async (path) => extractor.embed((await preprocessImage(await readFile(path), preprocess, { maxPixels: DEFAULT_MAX_PIXELS })).tensor);

const train = dataset.train.slice(0, TRAIN);
const held = dataset.train.slice(TRAIN, TRAIN + HOLD);
const first = await embed(train[0]);
const dim = first.dim;
const features = new Float32Array(train.length * first.patches * dim);
features.set(first.data, 0);
for (let i = 1; i < train.length; i++) features.set((await embed(train[i])).data, i * first.patches * dim);
const bank = await buildMemoryBank(features, train.length * first.patches, dim, { ...DEFAULT_PATCHCORE_OPTIONS }, session);
const outDim = bank.projection.length / dim;
const searchBank = await searchSpaceBank(bank.data, bank.size, dim, { matrix: bank.projection, outDim }, session);
const exact = await openSearchOver(searchBank, bank.size, outDim, undefined, session);

const candidateSessions = [];
for (const margin of MARGINS) {
  const g = new GraphBuilder({ name: "candidates" });
  const q = g.input("q", "float32", ["n", outDim]);
  const found = addNearestRows(g, q, addBankConstants(g, quantiseBank(searchBank, bank.size, outDim)), 1, "q", margin);
  g.output(found.squared, "squared", "float32");
  candidateSessions.push(await ort.InferenceSession.create(g.build(), toOrtOptions(session)));
}

let patches = 0;
const misses = MARGINS.map(() => 0);
const worstRelative = MARGINS.map(() => 0);
const imageScoreChange = MARGINS.map(() => 0);
for (const path of held) {
  const e = await embed(path);
  const q = await matmul(e.data, bank.projection, e.patches, dim, outDim, { session });
  const truth = (await exact.search(q, e.patches, 1)).distances;
  const truthMax = Math.max(...truth);
  patches += e.patches;
  for (const [m, s] of candidateSessions.entries()) {
    const out = await s.run({ q: new ort.Tensor("float32", q, [e.patches, outDim]) });
    const got = Float32Array.from(out.squared.data, (v) => Math.sqrt(Math.max(0, v)));
    for (let p = 0; p < e.patches; p++) {
      const rel = (got[p] - truth[p]) / Math.max(truth[p], 1e-6);
      if (rel > 1e-4) misses[m]++;
      worstRelative[m] = Math.max(worstRelative[m], rel);
    }
    imageScoreChange[m] = Math.max(imageScoreChange[m], Math.abs(Math.max(...got) - truthMax) / truthMax);
  }
}
console.log(
  JSON.stringify(
    {
      dataset: ds,
      bank_size: bank.size,
      held_images: held.length,
      patches,
      margins: MARGINS.map((margin, m) => ({
        margin,
        candidates: margin + 1,
        missed: misses[m],
        missed_share: misses[m] / patches,
        worst_relative_error: worstRelative[m],
        worst_image_max_change: imageScoreChange[m],
      })),
    },
    null,
    1,
  ),
);
await exact.release();
await extractor.release();
