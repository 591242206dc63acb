#!/usr/bin/env node
// Measures template comparison on a dataset in DeepPCB layout (fit on the training pairs, report on
// the test pairs). Needs a build: `npx tsc -p tsconfig.json` (reads dist/), or pass --build DIR for
// another output folder holding src/lib (e.g. a tsconfig.test.json build).
//   node experiments/eval-template.mjs --data ../shared/datasets/deeppcb [--limit N] [--train-limit N]
//     [--reference-dir DIR] [--max-width-bias N (0 = no line-width drift compensation)] [--global-only] [--json]
import { createRequire } from "node:module";
import { resolve } from "node:path";

const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const build = resolve(option("build", "dist"));
const libRoot = build.endsWith("dist") ? `${build}/lib` : `${build}/src/lib`;
const require = createRequire(import.meta.url);
const { evaluateTemplate } = require(`${libRoot}/eval/template-eval.js`);
const { DEFAULT_REGISTRATION } = require(`${libRoot}/anomaly/template/registration.js`);

const number = (name) => (option(name) === undefined ? undefined : Number(option(name)));
const result = await evaluateTemplate({
  data: resolve(option("data", "../shared/datasets/deeppcb")),
  referenceDir: option("reference-dir") && resolve(option("reference-dir")),
  limit: number("limit"),
  trainLimit: number("train-limit"),
  fit: option("max-width-bias") === undefined ? undefined : { maxWidthBias: number("max-width-bias") },
  // --global-only: one shift per image, no local field (to see what the local alignment adds).
  registration: args.includes("--global-only") ? { ...DEFAULT_REGISTRATION, local: null } : undefined,
  progress: (line) => process.stderr.write(`${line}\n`),
});
if (args.includes("--json")) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const f = (v, d = 3) => (typeof v === "number" ? v.toFixed(d) : String(v));
  const m = result.model;
  console.log(`pairs            train ${result.train_pairs}, test ${result.test_pairs} (${result.boxes} boxes)`);
  console.log(
    `model            tolerance ${m.tolerance} px, width drift up to ${m.maxWidthBias} px, edge tolerance [${m.edgeTolerance.map((t) => t.toFixed(2)).join(", ")}], opening ${m.opening}, smoothing ${m.smoothing}, threshold ${m.threshold}, min area ${m.minArea}`,
  );
  console.log(`train            recall ${f(result.train_recall, 4)}, false regions/image ${f(result.train_false_regions_per_image)}`);
  console.log(`defect recall    ${f(result.defect_recall, 4)}`);
  console.log(`false regions    ${f(result.false_regions_per_image)} per image`);
  console.log(`pixel AUROC      ${f(result.pixel_auroc, 4)}`);
  console.log(`AUPRO (0.3)      ${f(result.aupro, 4)}`);
  console.log(`  map blurred s4  pixel AUROC ${f(result.pixel_auroc_sigma4, 4)}, AUPRO ${f(result.aupro_sigma4, 4)}`);
  const s = result.ms_split;
  console.log(`ms/image         ${f(result.ms_per_image, 1)} (align ${f(s.align, 1)} / compare ${f(s.compare, 1)} / post ${f(s.post, 1)})`);
  console.log(`fit seconds      ${f(result.fit_seconds, 1)}`);
  console.log(`width drift      compensated on ${result.width_drift_images} of ${result.test_pairs} test images`);
  for (const [type, r] of Object.entries(result.recall_by_type)) console.log(`  ${type.padEnd(10)} ${r.found}/${r.boxes} = ${f(r.recall, 4)}`);
}
