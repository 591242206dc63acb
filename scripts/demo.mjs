// `npm start`: synthesise the demo images (once), seed the demo flow (once) and run a
// local Node-RED on 127.0.0.1 with this package loaded from the checkout.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const require = createRequire(import.meta.url);
const root = resolve(new URL("..", import.meta.url).pathname);
const userDir = resolve(process.env.DEMO_USER_DIR || join(root, ".demo"));
const dataDir = join(userDir, "defect-demo");
const DEMO_FLOW = "01 - Inspect a folder of images.json";

if (!existsSync(join(root, "dist", "nodes"))) {
  console.error("dist/ is missing: run `npm ci` (which builds) or `npm run build` first.");
  process.exit(1);
}
mkdirSync(userDir, { recursive: true });

const marker = join(dataDir, ".complete");
if (!existsSync(marker)) {
  const { writeSyntheticDataset } = require(join(root, "dist", "lib", "synth", "index.js"));
  const summary = await writeSyntheticDataset({ out: dataDir, seed: 1, count: 20 });
  writeFileSync(marker, JSON.stringify(summary, null, 2));
  console.log(`[demo] synthetic images written to ${dataDir}`);
}
if (!existsSync(join(userDir, "flows.json"))) {
  copyFileSync(join(root, "examples", DEMO_FLOW), join(userDir, "flows.json"));
  console.log(`[demo] demo flow "${DEMO_FLOW}" seeded into ${userDir}/flows.json`);
}
console.log(`[demo] kinds: ${readdirSync(dataDir).filter((n) => !n.startsWith(".")).join(", ")}`);

const redJs = require.resolve("node-red/red.js");
const child = spawn(
  process.execPath,
  [redJs, "--settings", join(root, "scripts", "demo-settings.cjs"), "--userDir", userDir],
  { stdio: "inherit", env: process.env },
);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
