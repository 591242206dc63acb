/**
 * onnxruntime 1.30 starts a telemetry client with its first session unless ORT_DISABLE_TELEMETRY
 * is set, leaving a device-id file and a debug log in the temporary folder. The package sets it
 * before any session: a process that opens and runs a model through the package leaves its
 * temporary folder empty.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

const CHILD = `
const ort = require("onnxruntime-node");
const { acquireModelFromBytes } = require(${JSON.stringify(join(__dirname, "../../src/lib/onnx"))});
const { buildAddOneModel } = require(${JSON.stringify(join(__dirname, "../fixtures/models"))});
(async () => {
  const model = await acquireModelFromBytes("offline-check", buildAddOneModel());
  const out = await model.run({ input: new ort.Tensor("float32", Float32Array.from([1, 2, 3]), [1, 3, 1, 1]) });
  await model.release();
  process.stdout.write(JSON.stringify(Array.from(out.output.data)));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe("onnxruntime stays offline", function () {
  this.timeout(60_000);

  it("leaves nothing in the temporary folder of a process that runs a model", async function () {
    const dir = await mkdtemp(join(tmpdir(), "ort-offline-"));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir, TMP: dir, TEMP: dir };
      delete env["ORT_DISABLE_TELEMETRY"];
      const { stdout } = await run(process.execPath, ["-e", CHILD], { env, timeout: 50_000 });
      assert.deepEqual(JSON.parse(stdout), [2, 3, 4], "the model ran");
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
