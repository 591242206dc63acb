// Few-shot settings judged on the shots alone (no test image): each of the first K good images is
// held out in turn, a bank is fitted on the other K - 1 (with their variants), and the held-out
// image (and its three mirrors) as good is scored against copies of it with one synthetic defect
// painted on (scratch, spot, crack, hole, worn patch; BLEND 1 = as painted, 0.2 = a fifth of the
// way, i.e. faint). Image AUROC per feature setting and image score rule.
// POOL: the patch neighbourhood (1 or 3, the default; src/lib/features/neighbourhood.ts).
//   DS=magnetic_tile K=4 BLEND=0.3 [BB=embedded] [SEEDS=2] [POOL=1|3] node experiments/fewshot-shot-validation.mjs
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
if (!existsSync(shared)) {
  console.log(`fewshot-shot-validation skipped: ${shared} is not here`);
  process.exit(0);
}
const sharp = createRequire(join(root, "package.json"))("sharp");
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { parsePreprocessOptions, preprocessImage } = await L("lib/image/index.js");
const { auroc } = await L("lib/metrics/index.js");
const { DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer } = await L("lib/anomaly/patchcore/patchcore.js");
const { fitShotBank } = await L("offline/eval/shot-bank.js");
const { FEW_SHOT_PRESET } = await L("lib/detector/setting-presets.js");
const { shotFeatures, standardizedShots } = await L("offline/eval/fewshot-features.js");
const { standardizeRows } = await L("lib/features/instance-norm.js");
const { readMvtecDataset } = await L("offline/eval/mvtec-dataset.js");
const { paintDefect } = await L("offline/synth/index.js");
const ds = process.env.DS || "magnetic_tile";
const K = Number(process.env.K || 4);
const SIZE = 256;
const dataset = readMvtecDataset(join(shared, "datasets", ds));
const preprocess = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE, resize: "stretch" });
const session = { intraOpThreads: 2 };
const bb =
  process.env.BB === "embedded"
    ? { model: "embedded", layers: ["stage2", "stage3"] }
    : { model: join(shared, "backbones", "resnet50v2_l123.onnx"), layers: ["layer2", "layer3"] };
const extractor = await openPatchExtractor(bb, session, Number(process.env.POOL || 3));
// The detector's augmentation choice (detector/fit/support-set.ts), every shot augmented.
const aug = { mode: "on", rotations: [], maxShots: K, ...(process.env.AUGX ? JSON.parse(process.env.AUGX) : {}) };
const set = await shotFeatures(dataset, K, extractor, preprocess, aug);
const KINDS = ["scratch", "spot", "crack", "hole", "missing-print"];
const SEEDS = Number(process.env.SEEDS || 2);
// painted defects per held-out shot
const painted = [];
for (const [i, path] of dataset.train.slice(0, K).entries()) {
  const { data, info } = await sharp(path).resize(SIZE, SIZE, { fit: "fill" }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const img = { data: new Uint8Array(data), width: SIZE, height: SIZE, channels: info.channels, bitDepth: 8 };
  const list = [];
  for (const kind of KINDS)
    for (let s = 0; s < SEEDS; s++) {
      const { image } = paintDefect(img, kind, 1000 * i + 17 * s + 1);
      const A = Number(process.env.BLEND || 1);
      for (let q = 0; q < image.data.length; q++) image.data[q] = Math.round(img.data[q] + A * (image.data[q] - img.data[q]));
      const png = await sharp(Buffer.from(image.data), { raw: { width: SIZE, height: SIZE, channels: image.channels } })
        .png()
        .toBuffer();
      const { tensor } = await preprocessImage(png, preprocess, { maxPixels: 1e8 });
      list.push((await extractor.embed(tensor)).data);
    }
  painted.push(list);
}
const { patches, width, height } = set.grid;
const dim = set.dim;
for (const std of [false, true]) {
  const shots = std ? standardizedShots(set.shots, patches, dim) : set.shots;
  const V = {};
  const labels = [];
  const add = (k, v) => (V[k] ??= []).push(v);
  for (let h = 0; h < K; h++) {
    const others = shots.filter((_, j) => j !== h);
    // The few-shot setting's coreset and search (detector/setting-presets.ts).
    const opts = { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: FEW_SHOT_PRESET.coresetRatio, scoringDim: FEW_SHOT_PRESET.scoringDim };
    const { bank } = await fitShotBank(others, true, set.grid, dim, { width: SIZE, height: SIZE }, opts, session);
    const scorer = await PatchCoreScorer.open(bank, opts, session);
    const goods = [shots[h].original, ...shots[h].variants.slice(0, 3)];
    const defects = painted[h].map((d) => (std ? standardizeRows(d, patches, dim) : d));
    for (const [lab, list] of [
      [0, goods],
      [1, defects],
    ])
      for (const data of list) {
        const r = await scorer.scorePatches({ data, patches, dim, gridWidth: width, gridHeight: height });
        const d = Array.from(r.grid.data).sort((a, b) => a - b);
        const n = d.length;
        add("reweighted", r.score);
        add("max", d[n - 1]);
        add("top10", d.slice(n - 10).reduce((a, b) => a + b, 0) / 10);
        const m = scorer.anomalyMap(r.grid, SIZE, SIZE).data;
        let mm = -1e9;
        for (const v of m) if (v > mm) mm = v;
        add("mapmax", mm);
        labels.push(lab);
      }
    await scorer.release();
  }
  const labs = labels;
  for (const [k, v] of Object.entries(V))
    console.log(
      ds,
      "K",
      K,
      std ? "std" : "raw",
      k,
      auroc(v, labs).toFixed(3),
      `(${labs.filter((x) => x === 0).length} good, ${labs.filter((x) => x === 1).length} painted)`,
    );
}
await extractor.release();
