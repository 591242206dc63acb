/**
 * Kill-during-save: a child process saves a memory bank and a calibration in a loop and is
 * killed with SIGKILL at seeded random moments, 100 times. After every kill the files hold the
 * last complete version or the one being written, never a mix or a torn file; a temporary file
 * the killed writer left is removed by the next write of the same target.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEMP_SUFFIX, readModelFile, writeModelFile } from "../../src/lib/persist";
import { loadCalibration, saveCalibration } from "../../src/lib/threshold/store";
import { Rng } from "../../src/lib/random";
import { CALIBRATION_NAME, MODEL_NAME, READY_LINE, bankOf, calibrationOf, modelContent, variantOf } from "../fixtures/save-loop";

const SCRIPT = join(__dirname, "..", "fixtures", "save-loop.js");
const KILLS = 100;
const SEED = 20_260_101;
/** Up to about three saves of the 2 MB bank on an idle machine: kills land before, inside and between writes. */
const MAX_KILL_DELAY_MS = 40;
/** A child that never says it is ready (broken build, stuck disk) fails the test instead of hanging it. */
const READY_TIMEOUT_MS = 10_000;
/**
 * stdout to a pipe is synchronous on Linux, so after a kill at most the save in progress is
 * missing from the lines read; elsewhere the lines may lag and only "not older" is checked.
 */
const EXACT_PROGRESS = process.platform === "linux";

interface RunResult {
  /** Last completed save the child reported, per file; undefined when none completed. */
  model?: number;
  calibration?: number;
}

/** Starts the writer at `first`, kills it `delayMs` after it is ready, resolves once it is gone. */
function killDuringSaves(folder: string, first: number, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, folder, String(first)], { stdio: ["ignore", "pipe", "pipe"] });
    const result: RunResult = {};
    let pending = "";
    let stderr = "";
    let killTimer: NodeJS.Timeout | undefined;
    const readyTimer = setTimeout(() => child.kill("SIGKILL"), READY_TIMEOUT_MS);
    let ready = false;
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => (stderr += chunk));
    child.stdout.on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const [what, marker] = line.split(" ");
        if (what === READY_LINE && !ready) {
          ready = true;
          clearTimeout(readyTimer);
          killTimer = setTimeout(() => child.kill("SIGKILL"), delayMs);
        } else if (what === "model" || what === "calibration") {
          result[what] = Number(marker);
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(readyTimer);
      clearTimeout(killTimer);
      if (!ready) reject(new Error(`the writer never got ready (exit ${code ?? signal}): ${stderr}`));
      else if (signal !== "SIGKILL") reject(new Error(`the writer ended by itself (exit ${code}): ${stderr}`));
      else resolve(result);
    });
  });
}

/** The saved bank must be exactly the content of its marker: variant, metadata and every value. */
async function savedModelMarker(path: string): Promise<number> {
  const file = await readModelFile(path);
  const marker = file.metadata["marker"];
  assert.ok(typeof marker === "number" && Number.isSafeInteger(marker), `marker ${String(marker)}`);
  assert.deepEqual(file.metadata, modelContent(marker).metadata);
  const bank = file.sections["bank"];
  assert.ok(bank instanceof Float32Array && bank.length === bankOf(variantOf(marker)).length, "the bank section is whole");
  assert.ok(Buffer.from(bank.buffer, bank.byteOffset, bank.byteLength).equals(Buffer.from(bankOf(variantOf(marker)).buffer)), `bank ${marker} is exact`);
  return marker;
}

async function savedCalibrationMarker(path: string): Promise<number> {
  const record = await loadCalibration(path);
  assert.ok(record !== undefined, "the calibration file is there");
  const marker = record.samples.good;
  assert.deepEqual(record, calibrationOf(marker));
  return marker;
}

/** After a kill: the version before the run's last completed save, that save, or the next one. */
function assertPlausible(what: string, onDisk: number, before: number, reported: number | undefined, first: number): void {
  const completed = reported ?? before;
  const inProgress = reported === undefined ? first : reported + 1;
  const ok = EXACT_PROGRESS ? onDisk === completed || onDisk === inProgress : onDisk >= completed;
  assert.ok(ok, `${what} ${onDisk} on disk; last complete ${completed}, in progress ${inProgress}`);
}

async function leftovers(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((name) => name.endsWith(TEMP_SUFFIX));
}

describe("kill during save", function () {
  this.timeout(120_000);
  let folder = "";

  beforeEach(async function () {
    folder = await mkdtemp(join(tmpdir(), "defect-kill-"));
  });

  afterEach(async function () {
    await rm(folder, { recursive: true, force: true });
  });

  it(`loads the last complete memory bank and calibration after each of ${KILLS} SIGKILLs, and cleans what a kill left`, async function () {
    const modelPath = join(folder, MODEL_NAME);
    const calibrationPath = join(folder, CALIBRATION_NAME);
    await writeModelFile(modelPath, modelContent(0));
    await saveCalibration(calibrationPath, calibrationOf(0));
    const rng = new Rng(SEED);
    let model = 0;
    let calibration = 0;
    let killsMidWrite = 0;
    let saves = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const first = model + 1;
      const run = await killDuringSaves(folder, first, rng.int(0, MAX_KILL_DELAY_MS));
      const nowModel = await savedModelMarker(modelPath);
      const nowCalibration = await savedCalibrationMarker(calibrationPath);
      assertPlausible("bank", nowModel, model, run.model, first);
      assertPlausible("calibration", nowCalibration, calibration, run.calibration, first);
      saves += nowModel - model;
      model = nowModel;
      calibration = nowCalibration;
      // Each write first removes what a dead writer left of its target: at most one each remains.
      const left = await leftovers(folder);
      assert.ok(left.length <= 2, `leftovers after kill ${kill}: ${left.join(", ")}`);
      if (left.length > 0) killsMidWrite++;
    }
    // The test must have hit both: kills inside a write, and runs that completed saves.
    assert.ok(killsMidWrite > 0, "no kill landed inside a write");
    assert.ok(saves > 0, "no save completed");
    await writeModelFile(modelPath, modelContent(model + 1));
    await saveCalibration(calibrationPath, calibrationOf(model + 1));
    assert.deepEqual(await leftovers(folder), [], "the next writes removed the killed writers' temporary files");
    assert.equal(await savedModelMarker(modelPath), model + 1);
    assert.equal(await savedCalibrationMarker(calibrationPath), model + 1);
  });

  it("removes only the temporary files of this target whose writer is gone", async function () {
    const modelPath = join(folder, MODEL_NAME);
    const dead = await exitedPid();
    const id = "0123456789ab";
    const names = {
      dead: `.${MODEL_NAME}.${dead}.${id}${TEMP_SUFFIX}`,
      // A restarted process may get its predecessor's pid; nothing of this process writes it now.
      ownPid: `.${MODEL_NAME}.${process.pid}.${id}${TEMP_SUFFIX}`,
      // The test runner's parent is alive: like a second Node-RED saving into the same folder.
      alive: `.${MODEL_NAME}.${process.ppid}.${id}${TEMP_SUFFIX}`,
      otherTarget: `.${CALIBRATION_NAME}.${dead}.${id}${TEMP_SUFFIX}`,
      notOurs: `.${MODEL_NAME}.backup${TEMP_SUFFIX}`,
    };
    for (const name of Object.values(names)) await writeFile(join(folder, name), "partial");
    await writeModelFile(modelPath, modelContent(1));
    assert.deepEqual((await readdir(folder)).sort(), [MODEL_NAME, names.alive, names.otherTarget, names.notOurs].sort());
  });
});

/** The pid of a process that has exited (and been reaped), for a leftover whose writer is gone. */
function exitedPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    child.on("error", reject);
    child.on("close", () => (child.pid === undefined ? reject(new Error("no pid")) : resolve(child.pid)));
  });
}
