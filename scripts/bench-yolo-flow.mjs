// The Node-RED side of scripts/bench-yolo.mjs: the package's preprocess and detector nodes in a
// flow run by node-red-node-test-helper, set up as test/fixtures/node-red.ts does (telemetry off,
// throw-away user directory), and a timer from a node's receive() to the message reaching the
// helper node at the end of the flow. Needs `npm run build` (loads dist/nodes).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const helper = require("node-red-node-test-helper");
const preprocessNode = require("../dist/nodes/preprocess.js");
const detectorNode = require("../dist/nodes/detector.js");

/** A message that has not come out by then never will (a model run takes well under a second). */
const MESSAGE_TIMEOUT_MS = 120_000;

/**
 * preprocess (preset yolo) -> detector (supervised, onnx, `modelFile`) -> helper "out"; a Catch
 * node turns an error of either node into a failed measurement instead of a silent timeout.
 */
function benchFlow(modelFile, threads) {
  const tab = "tab";
  return [
    { id: tab, type: "tab" },
    { id: "pre", z: tab, type: "defect-preprocess", preset: "yolo", wires: [["det"]] },
    { id: "det", z: tab, type: "defect-detector", setting: "supervised", method: "onnx", modelFile, threads: String(threads), wires: [["out"]] },
    { id: "out", z: tab, type: "helper" },
    { id: "catcher", z: tab, type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: tab, type: "helper" },
  ];
}

/**
 * Starts Node-RED with the flow. `time(entry, msg)` hands `msg` to node "pre" or "det" and resolves
 * with the milliseconds until the flow's output arrived and that output; `stop()` unloads the
 * flow (releasing the detector's session), stops the server and deletes the user directory.
 */
export async function startBenchFlow({ modelFile, threads }) {
  const userDir = mkdtempSync(join(tmpdir(), "bench-yolo-red-"));
  let started = false;
  const stop = async () => {
    if (started) {
      await helper.unload();
      await new Promise((resolve) => helper.stopServer(resolve));
    }
    rmSync(userDir, { recursive: true, force: true });
  };
  try {
    helper.init(require.resolve("node-red"));
    helper.settings({ userDir, telemetry: { enabled: false } });
    await new Promise((resolve, reject) => helper.startServer((error) => (error ? reject(error) : resolve())));
    started = true;
    await helper.load([preprocessNode, detectorNode], benchFlow(modelFile, threads));
  } catch (error) {
    await stop();
    throw error;
  }
  const node = (id) => helper.getNode(id);
  const out = node("out");
  const caught = node("caught");

  const time = (entry, msg) =>
    new Promise((resolve, reject) => {
      const finish = (settle) => {
        clearTimeout(timer);
        out.removeListener("input", onOut);
        caught.removeListener("input", onCaught);
        settle();
      };
      const onOut = (result) => {
        const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
        finish(() => resolve({ ms: elapsed, msg: result }));
      };
      const onCaught = (failed) => finish(() => reject(new Error(`${failed.error?.source?.type}: ${failed.error?.message}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`no output from "${entry}" within ${MESSAGE_TIMEOUT_MS} ms`))), MESSAGE_TIMEOUT_MS);
      out.on("input", onOut);
      caught.on("input", onCaught);
      const start = process.hrtime.bigint();
      node(entry).receive(msg);
    });
  return { time, stop };
}
