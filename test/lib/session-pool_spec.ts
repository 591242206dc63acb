/**
 * Sessions run on worker threads: the main thread's event loop keeps turning while a model runs,
 * a worker that dies fails only what it had in flight and the next run is served, and releasing
 * every session stops every worker.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { DefectError } from "../../src/lib/errors";
import { acquireModelFromBytes, defaultWorkerCount, GraphBuilder, sessionPool, type ModelHandle } from "../../src/lib/onnx";
import { WORKER_NICE } from "../../src/lib/onnx/worker-priority";
import { buildSlowAddZeroModel } from "../fixtures/slow-model";

/** Enough rows for a run of 100 ms or more on this machine kind (about 0.25 ms a row when idle). */
const SLOW_ROWS = 600;
const TICK_MS = 10;
const WAIT_MS = 20_000;

function input(): ort.Tensor {
  return new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 4]);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe("session worker pool", function () {
  this.timeout(60_000);
  const held: ModelHandle[] = [];
  let size: number;

  beforeEach(() => {
    size = sessionPool.maxWorkers;
  });

  afterEach(async () => {
    await Promise.all(held.splice(0).map((h) => h.release()));
    sessionPool.resize(size);
  });

  async function slowModel(key: string): Promise<ModelHandle> {
    const handle = await acquireModelFromBytes(key, buildSlowAddZeroModel(SLOW_ROWS));
    held.push(handle);
    return handle;
  }

  it("runs a model off the main thread: timers keep firing while it runs, and the result is the model's", async function () {
    const model = await slowModel("pool-slow-timers");
    await model.run({ x: input() }); // warm-up
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), TICK_MS);
    const started = performance.now();
    const out = await model.run({ x: input() });
    const ms = performance.now() - started;
    clearInterval(timer);
    assert.deepEqual(Array.from(out["y"]!.data as Float32Array), [1, 2, 3, 4]);
    // Run on this thread, the interval could not fire at all until the run returned.
    assert.ok(ms > 5 * TICK_MS, `the slow model should take a while (took ${ms.toFixed(0)} ms)`);
    assert.ok(ticks >= Math.floor(ms / TICK_MS / 3), `${ticks} ticks of ${TICK_MS} ms during a ${ms.toFixed(0)} ms run`);
  });

  it("runs models below the main thread's priority (Linux), onnxruntime's own threads included", async function () {
    if (process.platform !== "linux") this.skip();
    const niceOf = (tid: string): number => {
      // /proc/<pid>/task/<tid>/stat: field 19 is the nice value; the command name may hold spaces.
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    };
    const before = new Set(readdirSync("/proc/self/task"));
    const model = await slowModel("pool-nice");
    await model.run({ x: input() });
    const started = readdirSync("/proc/self/task").filter((tid) => !before.has(tid));
    assert.ok(started.length >= 2, `a worker and its onnxruntime threads started (${started.length} threads)`);
    assert.equal(niceOf(String(process.pid)), 0, "Node-RED's own thread keeps its priority");
    const lowered = started.filter((tid) => niceOf(tid) === WORKER_NICE);
    assert.ok(lowered.length >= 2, `threads at nice ${WORKER_NICE}: ${lowered.length} of ${started.length}`);
  });

  it("fails the run in flight when its worker dies, then serves the next run on a new worker", async function () {
    const model = await slowModel("pool-slow-kill");
    const running = model.run({ x: input() });
    await until(() => sessionPool.live.some((w) => w.busy), "a busy worker");
    const victim = sessionPool.live.find((w) => w.busy)!;
    const dead = victim.threadId;
    await victim.kill();
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof DefectError);
      assert.equal(error.code, "inferenceFailed");
      assert.match(error.message, /inference worker stopped unexpectedly .*next message is served by a new one/);
      return true;
    });
    const out = await model.run({ x: input() });
    assert.deepEqual(Array.from(out["y"]!.data as Float32Array), [1, 2, 3, 4]);
    assert.ok(sessionPool.live.length >= 1);
    assert.ok(!sessionPool.live.some((w) => w.threadId === dead), "the dead worker is gone from the pool");
  });

  it("spreads sessions over up to its size of workers and stops every worker when the last session goes", async function () {
    sessionPool.resize(2);
    const before = sessionPool.live.length;
    const a = await slowModel("pool-spread-a");
    const b = await slowModel("pool-spread-b");
    const c = await slowModel("pool-spread-c");
    assert.equal(sessionPool.live.length, before + 2);
    // Runs on two workers overlap; all three answer.
    const outs = await Promise.all([a, b, c].map((m) => m.run({ x: input() })));
    for (const out of outs) assert.deepEqual(Array.from(out["y"]!.data as Float32Array), [1, 2, 3, 4]);
    await Promise.all(held.splice(0).map((h) => h.release()));
    assert.equal(sessionPool.live.length, before, "no worker is left holding nothing");
  });

  it("hands a feed's buffer over only when asked", async function () {
    const model = await slowModel("pool-transfer");
    const kept = input();
    await model.run({ x: kept });
    assert.equal((kept.data as Float32Array).length, 4, "a copied feed stays with the caller");
    const given = input();
    const out = await model.run({ x: given }, undefined, { transferFeeds: true });
    assert.deepEqual(Array.from(out["y"]!.data as Float32Array), [1, 2, 3, 4]);
    assert.equal((given.data as Float32Array).length, 0, "a transferred feed is detached");
  });

  it("keeps large constant feeds on the worker: runs send only the rest, and a new worker gets them again", async function () {
    const g = new GraphBuilder({ name: "add-kept" });
    g.output(g.op("Add", [g.input("x", "float32", [1, 4]), g.input("c", "float32", [1, 4])]), "y", "float32", [1, 4]);
    const model = await acquireModelFromBytes("pool-kept", g.build());
    held.push(model);
    const kept = await model.keep({ c: new ort.Tensor("float32", Float32Array.from([10, 20, 30, 40]), [1, 4]) });
    const sum = async (): Promise<number[]> => Array.from((await model.run({ x: input() }, undefined, { kept }))["y"]!.data as Float32Array);
    assert.deepEqual(await sum(), [11, 22, 33, 44]);
    await assert.rejects(model.run({ x: input() }), /needs input "c", which the feeds lack/);
    for (const w of sessionPool.live) await w.kill();
    assert.deepEqual(await sum(), [11, 22, 33, 44], "the kept feeds follow the session to a new worker");
    await kept.release();
    await assert.rejects(model.run({ x: input() }, undefined, { kept }), /no kept feeds/);
  });

  it("runs several feed sets in order in one exchange, sending a block of a larger array without the rest of it", async function () {
    const g = new GraphBuilder({ name: "double" });
    g.output(g.op("Add", [g.input("x", "float32", [1, 2]), g.input("x2", "float32", [1, 2])]), "y", "float32", [1, 2]);
    const model = await acquireModelFromBytes("pool-each", g.build());
    held.push(model);
    const all = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const blocks = [0, 1, 2].map((b) => {
      const view = all.subarray(2 * b, 2 * b + 2);
      return { x: new ort.Tensor("float32", view, [1, 2]), x2: new ort.Tensor("float32", view, [1, 2]) };
    });
    const outs = await model.runEach(blocks);
    assert.deepEqual(
      outs.map((o) => Array.from(o["y"]!.data as Float32Array)),
      [
        [2, 4],
        [6, 8],
        [10, 12],
      ],
    );
    assert.deepEqual(Array.from(all), [1, 2, 3, 4, 5, 6], "the caller's array is untouched");
  });

  it("refuses a size outside 1..64 and starts with one worker a core, at most 4", function () {
    for (const bad of [0, -1, 1.5, 65, Number.NaN]) {
      assert.throws(
        () => sessionPool.resize(bad),
        (error: unknown) => error instanceof DefectError && error.code === "invalidOption" && /workers must be an integer from 1 to 64/.test(error.message),
      );
    }
    assert.ok(defaultWorkerCount() >= 1 && defaultWorkerCount() <= 4);
  });
});
