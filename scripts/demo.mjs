// `npm start`: synthesise the demo images (once), seed the demo flow (once) and run a
// local Node-RED on 127.0.0.1 with this package loaded from the checkout.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const require = createRequire(import.meta.url);
const root = resolve(new URL("..", import.meta.url).pathname);
const userDir = resolve(process.env.DEMO_USER_DIR || join(root, ".demo"));
const dataDir = join(userDir, "defect-demo");
const DEMO_FLOWS = ["02 - Learn good parts and inspect a line.json", "01 - Inspect a folder of images.json"];
const LINE_KIND = "cast-surface";
// Example 08 compares printed labels with references: a line of them of its own.
const PRINT_KIND = "printed-pattern";

/**
 * A camera drop folder: the test images of one part kind, interleaved good and defective,
 * named part-NNN-<label>.png so the debug output shows the truth beside each result.
 */
function composeLine(kindDir, lineDir) {
  mkdirSync(lineDir, { recursive: true });
  const testDir = join(kindDir, "test");
  const byLabel = readdirSync(testDir)
    .sort()
    .map((label) =>
      readdirSync(join(testDir, label))
        .sort()
        .map((file) => ({ label, path: join(testDir, label, file) })),
    );
  const parts = [];
  for (let i = 0; byLabel.some((list) => i < list.length); i++) {
    for (const list of byLabel) if (i < list.length) parts.push(list[i]);
  }
  parts.forEach((part, n) => copyFileSync(part.path, join(lineDir, `part-${String(n + 1).padStart(3, "0")}-${part.label}.png`)));
  return parts.length;
}

if (!existsSync(join(root, "dist", "nodes"))) {
  console.error("dist/ is missing: run `npm ci` (which builds) or `npm run build` first.");
  process.exit(1);
}
mkdirSync(userDir, { recursive: true });

const marker = join(dataDir, ".complete");
if (!existsSync(marker)) {
  const { writeSyntheticDataset } = require(join(root, "dist", "offline", "synth", "index.js"));
  const summary = await writeSyntheticDataset({ out: dataDir, seed: 1, count: 20 });
  const parts = composeLine(join(dataDir, LINE_KIND), join(dataDir, "line"));
  writeFileSync(marker, JSON.stringify(summary, null, 2));
  console.log(`[demo] synthetic images written to ${dataDir} (${parts} parts in line/)`);
}
// Also for demo folders written before example 08 existed.
const printLine = join(dataDir, "print-line");
if (!existsSync(printLine) && existsSync(join(dataDir, PRINT_KIND, "test"))) {
  const parts = composeLine(join(dataDir, PRINT_KIND), printLine);
  console.log(`[demo] ${parts} printed labels in ${printLine}`);
}
if (!existsSync(join(userDir, "flows.json"))) {
  const flows = DEMO_FLOWS.flatMap((name) => JSON.parse(readFileSync(join(root, "examples", name), "utf8")));
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flows, null, 2));
  console.log(`[demo] demo flows seeded into ${userDir}/flows.json: ${DEMO_FLOWS.join(", ")}`);
}

const redJs = require.resolve("node-red/red.js");
const child = spawn(process.execPath, [redJs, "--settings", join(root, "scripts", "demo-settings.cjs"), "--userDir", userDir], {
  stdio: "inherit",
  env: process.env,
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
