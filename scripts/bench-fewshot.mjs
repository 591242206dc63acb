// `npm run bench:fewshot`: the few-shot sweep of issue 6 on the real datasets in ../shared (never
// shipped, never downloaded). Test features are extracted once per dataset + backbone (cached in
// .tmp/fewshot-cache), banks for K = 1, 2, 4, 8, 16 are fitted on cached features with the
// detector's own bank fit and scored with its own scoring, and the markdown tables that
// BENCHMARKS.md records are printed.
//   FEWSHOT_DATASETS=casting,magnetic_tile  FEWSHOT_BACKBONES=pretrained,embedded
//   FEWSHOT_SETTINGS=plain,aug[,aug-std,aug-map,fewshot,rotate,all-patches]  FEWSHOT_SHOTS=1,2,4,8,16
//   FEWSHOT_STRIDE=1 (score every n-th test image; >1 only to explore)  FEWSHOT_DIST=dist
//   FEWSHOT_SEED=0 (seed of the random variants and the coreset; others show the spread of one draw)
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const dist = resolve(root, process.env.FEWSHOT_DIST || "dist");
const pretrained = join(shared, "backbones", "resnet50v2_l123.onnx");
const list = (name, fallback) => (process.env[name] || fallback).split(",").filter((s) => s !== "");
const datasets = list("FEWSHOT_DATASETS", "casting,magnetic_tile");
const backbones = list("FEWSHOT_BACKBONES", "pretrained,embedded");
const shots = list("FEWSHOT_SHOTS", "1,2,4,8,16").map(Number);
const threads = Number(process.env.FEWSHOT_THREADS || "2");
const stride = Number(process.env.FEWSHOT_STRIDE || "1");
const seed = Number(process.env.FEWSHOT_SEED || "0");

if (!existsSync(shared)) {
  console.log(`bench:fewshot skipped: ${shared} is not here (the benchmark needs ../shared beside the checkout).`);
  process.exit(0);
}
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { runFewShotSweep, fewShotTable } = await load("offline/eval/fewshot-sweep.js");
const { MAX_FEW_SHOTS } = await load("lib/detector/setting-presets.js");
const { standardizesByDefault } = await load("lib/features/instance-norm.js");

const ROUND_PART_ROTATIONS = [45, 90, 135, 180, 225, 270, 315];
// The detector's augmentation choice with every shot augmented (variants do not depend on K).
const AUGMENT_ALL = { mode: "on", rotations: [], maxShots: MAX_FEW_SHOTS };
const SETTINGS = {
  // Plain PatchCore as in the reference rows: 10 % coreset, no augmentation.
  plain: { label: "plain (coreset 0.1)", augment: null, coresetRatio: 0.1 },
  // The shots' own patches, all kept (explored, not the default).
  "all-patches": { label: "all patches, no aug", augment: null, coresetRatio: 1 },
  // Support-set augmentation, 10 % coreset of shots + variants.
  aug: { label: "augmented (coreset 0.1)", augment: AUGMENT_ALL, coresetRatio: 0.1 },
  // The default augmentation with per-image feature standardisation (features/instance-norm.ts).
  "aug-std": {
    label: "augmented + per-image standardised features",
    augment: AUGMENT_ALL,
    coresetRatio: 0.1,
    standardize: true,
  },
  // The default augmentation with the anomaly map's peak as image score (raw features).
  "aug-map": {
    label: "augmented, map maximum",
    augment: AUGMENT_ALL,
    coresetRatio: 0.1,
    imageScore: "map-max",
  },
  // The few-shot preset (eval --shots K, the detector's few-shot setting): the default augmentation,
  // the image score as the largest value of the anomaly map, and per-image standardised features
  // with ONNX backbones (standardizesByDefault: not the embedded one).
  fewshot: {
    label: "few-shot preset",
    augment: AUGMENT_ALL,
    coresetRatio: 0.1,
    standardize: "auto",
    imageScore: "map-max",
  },
  // Round parts (casting impellers): also every 45-degree turn.
  rotate: {
    label: "augmented + 45-degree turns",
    augment: { ...AUGMENT_ALL, rotations: ROUND_PART_ROTATIONS },
    coresetRatio: 0.1,
  },
};
const settings = list("FEWSHOT_SETTINGS", "plain,aug").map((name) => {
  const s = SETTINGS[name];
  if (s === undefined) throw new Error(`unknown FEWSHOT_SETTINGS entry "${name}" (known: ${Object.keys(SETTINGS).join(", ")})`);
  return s;
});
const BACKBONES = {
  pretrained: { model: pretrained, layers: ["layer2", "layer3"] },
  embedded: { model: "embedded", layers: ["stage2", "stage3"] },
};

for (const name of datasets) {
  const data = join(shared, "datasets", name);
  if (!existsSync(data)) {
    console.log(`bench:fewshot: ${data} missing, skipped`);
    continue;
  }
  for (const b of backbones) {
    const backbone = BACKBONES[b];
    if (backbone === undefined) throw new Error(`unknown FEWSHOT_BACKBONES entry "${b}"`);
    const started = Date.now();
    const report = await runFewShotSweep({
      data,
      backbone: backbone.model,
      layers: backbone.layers,
      size: 256,
      shots,
      settings: settings.map((s) => (s.standardize === "auto" ? { ...s, standardize: standardizesByDefault(backbone.model) } : s)),
      threads,
      cacheDir: join(root, ".tmp", "fewshot-cache"),
      testStride: stride,
      seed,
      progress: (line) => console.error(`[${name} ${b}] ${line}`),
    });
    console.log(
      `\n### ${name}, ${b} backbone (${backbone.layers.join(",")}, 256 px, ${report.test_images} test images${stride > 1 ? `, every ${stride}th` : ""}${seed !== 0 ? `, seed ${seed}` : ""})\n`,
    );
    console.log(fewShotTable(report));
    console.log(`<!-- ${JSON.stringify(report.rows)} -->`);
    console.error(`[${name} ${b}] ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
