// Defect-aware PatchCore on the real datasets in ../shared (never shipped, never downloaded):
// good-only against defect-aware on the same test set, K good shots + N labelled defects.
//   node scripts/bench-defect.mjs [--lib dist/lib] [--datasets casting,deeppcb] [--shots 16]
//     [--defect-shots 10] [--calibration 16] [--coreset 0.1] [--threads 2] [--cache DIR] [--json]
// Prints one markdown table (and the JSON reports with --json).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const { values } = parseArgs({
  options: {
    lib: { type: "string", default: join(root, "dist", "lib") },
    datasets: { type: "string", default: "casting,deeppcb" },
    shots: { type: "string", default: "16" },
    "defect-shots": { type: "string", default: "10" },
    calibration: { type: "string", default: "16" },
    coreset: { type: "string", default: "0.1" },
    size: { type: "string", default: "256" },
    threads: { type: "string", default: "2" },
    cache: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const backbone = join(shared, "backbones", "resnet50v2_l123.onnx");
if (!existsSync(backbone)) {
  console.log(`bench-defect skipped: ${backbone} is not here (the benchmark needs ../shared beside the checkout).`);
  process.exit(0);
}
const lib = resolve(values.lib);
const load = (path) => import(pathToFileURL(join(lib, path)).href);
const { openPatchExtractor } = await load("features/extractor.js");
const { parsePreprocessOptions } = await load("image/index.js");
const { evaluateDefectAware } = await load("eval/defect-aware-eval.js");

const size = Number(values.size);
const layers = ["layer2", "layer3"];
const session = { intraOpThreads: Number(values.threads) };
const preprocess = parsePreprocessOptions({ preset: "imagenet", width: size, height: size, resize: "stretch" });
const f = (v) => (v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3));
const lines = [
  "| dataset | mode | calibration | image AUROC | pixel AUROC | threshold | F1 at threshold | precision | recall | good rejected | F1-max (test) |",
  "|---|---|---|---|---|---|---|---|---|---|---|",
];
const reports = [];
for (const name of values.datasets.split(",")) {
  const data = join(shared, "datasets", name);
  if (!existsSync(data)) {
    console.log(`bench-defect: ${data} missing, skipped`);
    continue;
  }
  const extractor = await openPatchExtractor({ model: backbone, layers }, session);
  try {
    const started = performance.now();
    const report = await evaluateDefectAware({
      data,
      extractor,
      preprocess,
      shots: Number(values.shots),
      defectShots: Number(values["defect-shots"]),
      calibrationShots: Number(values.calibration),
      patchcore: { coresetRatio: Number(values.coreset) },
      session,
      cache: values.cache === undefined ? undefined : { dir: values.cache, key: `${backbone}|${layers.join(",")}|${size}` },
      progress: (line) => console.error(`[${name}] ${line}`),
    });
    console.error(`[${name}] done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    reports.push(report);
    const modes = [
      ["good-only", report.good_only],
      ["good-only, labelled calibration", report.good_only_labelled],
      [`defect-aware (lambda ${report.lambda}, ${report.defect_bank_size} defect patches, ${report.defect_regions})`, report.defect_aware],
    ];
    if (report.classifier) modes.push([`PatchCore + logistic patch head (mu ${report.classifier.mu})`, report.classifier]);
    for (const [mode, p] of modes) {
      lines.push(
        `| ${name} | ${mode} | ${p.calibration} | ${f(p.image_auroc)} | ${f(p.pixel_auroc)} | ${p.threshold.toPrecision(4)} | ${f(p.f1_calibrated)} | ${f(p.precision)} | ${f(p.recall)} | ${f(p.false_reject_rate)} | ${f(p.f1_max)} |`,
      );
    }
  } finally {
    await extractor.release();
  }
}
console.log(
  `$ node ${process.argv
    .slice(1)
    .map((a) => a.replace(root + "/", ""))
    .join(" ")}\n`,
);
console.log(lines.join("\n"));
if (values.json) console.log(JSON.stringify(reports, null, 2));
