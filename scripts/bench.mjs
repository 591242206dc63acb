// `npm run bench`: the PatchCore speed/accuracy sweep on the real datasets in ../shared
// (never shipped, never downloaded). Prints the tables that BENCHMARKS.md records.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
const backbone = join(shared, "backbones", "resnet50v2_l123.onnx");
const datasets = (process.env.BENCH_DATASETS || "magnetic_tile,casting").split(",");
const threads = process.env.BENCH_THREADS || "2";

if (!existsSync(backbone)) {
  console.log(`bench skipped: ${backbone} is not here (the benchmark needs ../shared beside the checkout).`);
  process.exit(0);
}
for (const name of datasets) {
  const data = join(shared, "datasets", name);
  if (!existsSync(data)) {
    console.log(`bench: ${data} missing, skipped`);
    continue;
  }
  const args = [
    join(root, "dist", "cli", "main.js"),
    "bench",
    "--data",
    data,
    "--backbone",
    backbone,
    "--layers",
    "layer2,layer3",
    "--size",
    "256",
    "--train-limit",
    "200",
    "--threads",
    threads,
  ];
  if (process.env.BENCH_SETTINGS) args.push("--settings", process.env.BENCH_SETTINGS);
  console.log(`\n## ${name}\n\n$ node ${args.map((a) => a.replace(root + "/", "").replace(shared, "../shared")).join(" ")}\n`);
  const run = spawnSync(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
