#!/usr/bin/env node
// The detector's template method (src/lib/detector/methods/template-method.ts) on a dataset in DeepPCB
// layout, the way a line runs it: every image preprocessed to a tensor as the preprocess node
// makes it, the references learned as good images, the threshold calibrated good-only (mean +
// 3 sigma, the threshold node's default k) on training images, every test/defect image
// inspected and its map, placed on the original image's pixels, cut at the threshold into
// regions of at least 10 pixels (mask-to-region's default), which are scored against the
// annotated boxes. Never part of npm test: it reads ../shared.
//   node experiments/template-detector-check.mjs [--lib dist/lib] [--data ../shared/datasets/deeppcb]
//     [--reference-dir DIR] [--size 640] [--limit N] [--calibrate N] [--threshold T] [--json]
// --threshold T: cut the maps at T instead of the calibrated threshold (0.5: the method's operating point).
// Learned: the references (DIR/reference, the test images' templates) and the calibration
// images (DIR/train/good, templates of other boards); a learned image inspected again is
// compared as its detector compares it (reference-set.ts, copyOf).
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";

const root = resolve(new URL("..", import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    lib: { type: "string", default: join(root, "dist", "lib") },
    data: { type: "string", default: resolve(root, "..", "shared", "datasets", "deeppcb") },
    "reference-dir": { type: "string" },
    size: { type: "string", default: "640" },
    limit: { type: "string" },
    calibrate: { type: "string", default: "200" },
    "min-area": { type: "string", default: "10" },
    threshold: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const require = createRequire(import.meta.url);
const lib = resolve(values.lib);
const { preprocessImage, parsePreprocessOptions, mapToSource } = require(`${lib}/image/index.js`);
const { openTemplateMethod } = require(`${lib}/detector/methods/template-method.js`);
const { DEFAULT_TEMPLATE_OPTIONS } = require(`${lib}/detector/methods/template-options.js`);
const { sparseComponents } = require(`${lib}/anomaly/template/sparse-components.js`);
const { boxMask, componentBoxStats, scoreAtMinArea } = require(`${lib}/../offline/template/regions-eval.js`);
const { parseAnnotations } = require(`${lib}/../offline/template/annotations.js`);
const { computeCalibration } = require(`${lib}/threshold/calibrate.js`);
const { parseThresholdOptions } = require(`${lib}/threshold/options.js`);

const data = resolve(values.data);
const referenceDir = resolve(values["reference-dir"] ?? join(data, "reference"));
const size = Number(values.size);
const minArea = Number(values["min-area"]);
const preprocessing = parsePreprocessOptions({ preset: "imagenet", width: size, height: size });
const images = (dir) =>
  readdirSync(dir)
    .filter((f) => /\.(png|jpe?g|bmp|tiff?|webp)$/i.test(f))
    .sort();
const stem = (file) => file.replace(/\.[^.]+$/, "");
async function sample(path) {
  const { tensor, transform } = await preprocessImage(readFileSync(path), preprocessing, { maxPixels: 1e8 });
  return { tensor, transform, preprocessing, name: path.split("/").pop() };
}

const references = images(referenceDir).map((f) => join(referenceDir, f));
const calibration = images(join(data, "train", "good"))
  .slice(0, Number(values.calibrate))
  .map((f) => join(data, "train", "good", f));
const tests = images(join(data, "test", "defect")).slice(0, values.limit === undefined ? undefined : Number(values.limit));

const method = await openTemplateMethod({ setting: "unsupervised", options: { ...DEFAULT_TEMPLATE_OPTIONS } });
const round = await method.startRound();
const learnStart = performance.now();
for (const path of [...references, ...calibration]) await round.add(await sample(path));
const fitted = await round.fit(new AbortController().signal);
await round.release();
const model = fitted.model;
const learnSeconds = (performance.now() - learnStart) / 1000;

// Good-only calibration as the threshold node does it by default in `line`: mean + k sigma.
const goodScores = [];
for (const path of calibration) goodScores.push((await model.inspect((await sample(path)).tensor)).score);
const thresholdOptions = parseThresholdOptions({ mode: "sigma" });
const calibrated = computeCalibration("sigma", thresholdOptions, { good: goodScores, defect: [] }, new Date()).threshold;
const threshold = values.threshold === undefined ? calibrated : Number(values.threshold);

let boxes = 0;
let found = 0;
let falseRegions = 0;
let rightReference = 0;
const ms = [];
// How long the main thread was blocked while parts were inspected (the comparison runs on the
// worker; the main thread turns the tensor back into gray): measured only while the detector
// works, parts prepared before and evaluated after, ten at a time.
const delays = { p99: 0, max: 0 };
const BATCH = 10;
for (let at = 0; at < tests.length; at += BATCH) {
  const batch = tests.slice(at, at + BATCH);
  const samples = [];
  for (const file of batch) samples.push(await sample(join(data, "test", "defect", file)));
  const results = [];
  // A fresh monitor per batch: one re-enabled would count the time it was off as a delay.
  const monitor = monitorEventLoopDelay({ resolution: 1 });
  monitor.enable();
  for (const s of samples) {
    const t0 = performance.now();
    results.push(await model.inspect(s.tensor, s.transform));
    ms.push(performance.now() - t0);
  }
  monitor.disable();
  // The worst batch's: one figure per batch of ten parts, so the p99 is a batch's worst-but-one.
  delays.p99 = Math.max(delays.p99, monitor.percentile(99) / 1e6);
  delays.max = Math.max(delays.max, monitor.max / 1e6);
  batch.forEach((file, k) => {
    const result = results[k];
    if (stem(result.reference.name) === stem(file)) rightReference++;
    const map = mapToSource(samples[k].transform, result.map);
    const defects = parseAnnotations(readFileSync(join(data, "annotations", "test", `${stem(file)}.json`), "utf8"), file);
    const b = defects.map((d) => d.box);
    const score = scoreAtMinArea(componentBoxStats(sparseComponents(map.data, map.width, threshold), map.width, b, boxMask(b, map.width, map.height)), minArea);
    boxes += b.length;
    found += score.hit.filter(Boolean).length;
    falseRegions += score.falseRegions;
  });
}
await model.release();
await method.release();
ms.sort((a, b) => a - b);
const report = {
  data,
  size,
  references: references.length,
  calibration_images: calibration.length,
  learn_seconds: Number(learnSeconds.toFixed(1)),
  threshold,
  calibrated_threshold: calibrated,
  good_scores: { max: Math.max(...goodScores), nonzero: goodScores.filter((v) => v > 0).length },
  test_images: tests.length,
  boxes,
  defect_recall: found / boxes,
  false_regions_per_image: falseRegions / tests.length,
  right_reference: rightReference / tests.length,
  ms_per_image_p50: ms[ms.length >> 1],
  event_loop_delay_p99_ms: delays.p99,
  event_loop_delay_max_ms: delays.max,
};
if (values.json) console.log(JSON.stringify(report, null, 2));
else
  for (const [k, v] of Object.entries(report))
    console.log(`${k.padEnd(24)} ${typeof v === "number" ? Number(v.toFixed ? v.toPrecision(4) : v) : JSON.stringify(v)}`);
