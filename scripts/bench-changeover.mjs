// Product changeover in the flow: a detector with two learned recipes (PatchCore, the shipped
// defaults, on two synthetic products), then (1) switch commands alone, msg.command "recipe",
// alternating between the two, and (2) inspections that stay on one recipe against inspections
// that alternate recipes message by message. The changeover cost is what alternating adds.
// Both recipes have been used before anything is timed (the acceptance's "once both were used").
// Uses ../shared's ResNet-50 backbone when present, else the embedded backbone.
// Run: npm run bench:changeover   (needs `npm run build`; prints one JSON object)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import sharp from "sharp";

const require = createRequire(import.meta.url);
const helper = require("node-red-node-test-helper");
const detectorNode = require("../dist/nodes/detector.js");
const { parsePreprocessOptions, preprocessImage } = require("../dist/lib/image/index.js");
const { generateGood } = require("../dist/offline/synth/index.js");

const SHARED_BACKBONE = join(import.meta.dirname, "..", "..", "shared", "backbones", "resnet50v2_l123.onnx");
const LEARN = 10;
const ROUNDS = 40;
const SIZE = 256;
const WAIT_MS = 120_000;

const backbone = existsSync(SHARED_BACKBONE) ? { backbone: SHARED_BACKBONE, layers: "layer2,layer3" } : { backbone: "embedded" };
const options = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });

async function tensorOf(kind, seed) {
  const image = generateGood(kind, seed, SIZE);
  const png = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: image.channels } })
    .png()
    .toBuffer();
  const { tensor, transform } = await preprocessImage(png, options, { maxPixels: 1e8 });
  return { payload: tensor, transform, preprocessing: { ...options } };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const userDir = mkdtempSync(join(tmpdir(), "bench-changeover-"));
helper.init(require.resolve("node-red"));
helper.settings({ userDir, telemetry: { enabled: false } });
await new Promise((resolve, reject) => helper.startServer((error) => (error ? reject(error) : resolve())));
try {
  await helper.load(detectorNode, [
    { id: "tab", type: "tab" },
    { id: "det", z: "tab", type: "defect-detector", setting: "unsupervised", method: "patchcore", ...backbone, trainCount: String(LEARN), wires: [["out"]] },
    { id: "out", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ]);
  const det = helper.getNode("det");
  const out = helper.getNode("out");
  helper.getNode("caught").on("input", (msg) => {
    console.error(`caught: ${msg.error?.message}`);
    process.exit(1);
  });
  const send = (msg) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no answer")), WAIT_MS);
      out.once("input", (answer) => {
        clearTimeout(timer);
        resolve({ ms: performance.now() - started, answer });
      });
      const started = performance.now();
      det.receive(msg);
    });

  const products = { A: "brushed-metal", B: "woven-fabric" };
  for (const [recipe, kind] of Object.entries(products)) {
    for (let i = 0; i < LEARN; i++) await send({ ...(await tensorOf(kind, 100 + i)), learn: true, recipe });
  }
  const parts = { A: await tensorOf(products.A, 1), B: await tensorOf(products.B, 1) };
  // Both recipes used, their scoring graphs built, before anything is timed.
  for (const recipe of ["A", "B", "A", "B"]) await send({ ...parts[recipe], recipe });

  const switchMs = [];
  for (let i = 0; i < ROUNDS; i++) switchMs.push((await send({ command: "recipe", recipe: i % 2 === 0 ? "A" : "B", payload: null })).ms);
  const sameMs = [];
  const alternatingMs = [];
  for (let i = 0; i < ROUNDS; i++) {
    sameMs.push((await send({ ...parts.A, recipe: "A" })).ms);
    const recipe = i % 2 === 0 ? "B" : "A";
    // Alternating: every message switches (A after the same-recipe A above, then B, ...).
    alternatingMs.push((await send({ ...parts[recipe], recipe })).ms);
  }
  const state = await helper.request().get("/defect-detector/det/state");
  console.log(
    JSON.stringify(
      {
        backbone: backbone.backbone,
        size: SIZE,
        learned_per_recipe: LEARN,
        rounds: ROUNDS,
        switch_command_ms_p50: Number(median(switchMs).toFixed(2)),
        inspection_same_recipe_ms_p50: Number(median(sameMs).toFixed(2)),
        inspection_alternating_ms_p50: Number(median(alternatingMs).toFixed(2)),
        changeover_ms: Number((median(alternatingMs) - median(sameMs)).toFixed(2)),
        recipes: state.body.recipes,
      },
      null,
      2,
    ),
  );
} finally {
  await helper.unload();
  await new Promise((resolve) => helper.stopServer(resolve));
  rmSync(userDir, { recursive: true, force: true });
}
