// `npm run load`: a whole line in one Node-RED runtime on 127.0.0.1 (image source in payload mode
// -> preprocess -> detector with the embedded backbone, PatchCore learned from synthetic good
// parts -> threshold calibrated on good parts -> mask to region -> alarm), fed a stream of
// synthetic images. Prints throughput, latency p50/p95/p99 (image source in -> mask to region
// out), drops (queueFull at a Catch node), other errors and resident memory over time.
//
//   npm run load                                  steady (0.8x) and burst (10x the sustainable rate)
//   npm run load -- --rate 20 --count 300         one stream at a fixed rate
//   npm run load -- --burst 10 --count 300        one stream at 10x the measured sustainable rate
//   npm run load -- --soak [--count 30000] [--redeploys 100]
//        closed loop: --count inspections, and how much resident memory (over the second half)
//        and the retained heap (after a 10 % warm-up) grow per inspection (least-squares slopes
//        over 20 checkpoints, bounded: a leak of 1.3 KB an inspection is 2 GB a day at 20
//        parts/s); then redeploys (full
//        and modified-nodes, through the admin API) and what they leave behind: onnxruntime
//        sessions and the worker threads that run them, file watchers, timers and other handles,
//        messages held for back-pressure.
//
// Options: --size PX (images and tensors, default 128), --queue N and --policy P (detector queue),
// --train N, --calibrate N, --warmup N, --max-seconds S (stops itself), --json (one JSON object).
// Everything runs in this process on 127.0.0.1 with a throw-away user directory; nothing is
// downloaded, telemetry is off.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const root = resolve(new URL("..", import.meta.url).pathname);
const dist = (path) => require(join(root, "dist", path));

const { values: args } = parseArgs({
  options: {
    rate: { type: "string" },
    burst: { type: "string" },
    count: { type: "string" },
    soak: { type: "boolean", default: false },
    redeploys: { type: "string", default: "100" },
    size: { type: "string", default: "128" },
    queue: { type: "string", default: "8" },
    policy: { type: "string", default: "drop-oldest" },
    train: { type: "string", default: "20" },
    calibrate: { type: "string", default: "10" },
    warmup: { type: "string", default: "20" },
    "max-seconds": { type: "string", default: "3600" },
    json: { type: "boolean", default: false },
  },
});
const num = (name, value) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${value}`);
    process.exit(2);
  }
  return n;
};
const SIZE = Math.round(num("size", args.size));
const TRAIN = Math.round(num("train", args.train));
const CALIBRATE = Math.round(num("calibrate", args.calibrate));
const WARMUP = Math.round(num("warmup", args.warmup));
const MAX_SECONDS = num("max-seconds", args["max-seconds"]);
const KIND = "cast-surface";
const MB = 1024 * 1024;

// Stops by itself whatever happens (a hung deploy, a lost message).
const deadline = setTimeout(() => {
  console.error(`stopped after --max-seconds ${MAX_SECONDS}`);
  process.exit(3);
}, MAX_SECONDS * 1000);
deadline.unref();

const say = (line) => {
  if (!args.json) console.log(line);
};

// ---------------------------------------------------------------- images
const sharp = require("sharp");
const { generateGood, generateDefect, DEFECT_KINDS } = dist("offline/synth/index.js");

async function png(raw) {
  return sharp(Buffer.from(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength), {
    raw: { width: raw.width, height: raw.height, channels: raw.channels },
  })
    .png()
    .toBuffer();
}
const seeds = (from, n) => Array.from({ length: n }, (_, i) => from + i);
const train = await Promise.all(seeds(1, TRAIN).map((s) => png(generateGood(KIND, s, SIZE))));
const calibration = await Promise.all(seeds(500, CALIBRATE).map((s) => png(generateGood(KIND, s, SIZE))));
// The stream: three good parts to one defective, each image a different part.
const stream = await Promise.all(
  seeds(1000, 40).map((s, i) =>
    i % 4 === 3 ? png(generateDefect(KIND, DEFECT_KINDS[i % DEFECT_KINDS.length], s, SIZE).image) : png(generateGood(KIND, s, SIZE)),
  ),
);

// ---------------------------------------------------------------- Node-RED
// The same embedded runtime as `defect-detection line` (src/offline/line/runtime.ts), with the admin API for redeploys.
const { startEmbeddedRuntime } = dist("offline/line/runtime.js");
const { openSessionCount, sessionPool } = dist("lib/onnx/index.js");
const { transitCount } = dist("nodes/shared/queue.js");

const watchDir = mkdtempSync(join(tmpdir(), "defect-load-watch-"));
/**
 * Injected messages not yet at the end of the line or a Catch node, by load id. Only a small
 * record of each arrival is kept, so that this script holds no image and the memory figures
 * are the flow's own.
 */
const waiting = new Map();
function arrived(kind, msg) {
  const id = msg.loadId;
  if (id === undefined) return;
  const error = msg.error ?? {};
  const record = { kind, at: performance.now(), code: error.code, source: error.source?.id, message: error.message };
  waiting.get(id)?.(record);
  waiting.delete(id);
}
const runtime = await startEmbeddedRuntime({
  flows: [],
  adminApi: true,
  prefix: "defect-load-",
  logLevel: process.env.LOAD_LOG || "warn",
  globals: { loadSink: (msg) => arrived("result", msg), loadCaught: (msg) => arrived("caught", msg) },
});
const { port, userDir } = runtime;

/** The line; `variant` changes the detector's and threshold's names (a modified-nodes deploy restarts them). */
function flow(variant = 0) {
  const z = "load-tab";
  const at = (x) => ({ x, y: 100, z });
  return [
    { id: z, type: "tab", label: "load" },
    { id: "src", type: "defect-image-source", mode: "payload", ...at(100), wires: [["pre"]] },
    { id: "pre", type: "defect-preprocess", preset: "imagenet", width: String(SIZE), height: String(SIZE), ...at(250), wires: [["det"]] },
    {
      id: "det",
      type: "defect-detector",
      name: `detector ${variant}`,
      setting: "unsupervised",
      method: "patchcore",
      backbone: "embedded",
      layers: "stage2,stage3",
      trainCount: String(TRAIN),
      mapSize: "model",
      queueSize: args.queue,
      overflow: args.policy,
      ...at(400),
      wires: [["thr"]],
    },
    {
      id: "thr",
      type: "defect-threshold",
      name: `threshold ${variant}`,
      mode: "sigma",
      k: "4",
      calibrationCount: String(CALIBRATE),
      ...at(550),
      wires: [["regions"]],
    },
    { id: "regions", type: "defect-mask-to-region", minArea: "10", ...at(700), wires: [["alarm", "sink"]] },
    { id: "alarm", type: "defect-alarm", rule: "ng", latch: false, protocol: "modbus", ...at(850), wires: [[], []] },
    { id: "sink", type: "function", func: 'global.get("loadSink")(msg);\nreturn null;', outputs: 0, ...at(850), wires: [] },
    // Never fed: watches an empty folder so that redeploys open and close a file watcher each time.
    { id: "watch", type: "defect-image-source", mode: "folder", folder: watchDir, ...at(100), wires: [["pre"]] },
    { id: "catcher", type: "catch", scope: null, uncaught: false, ...at(100), wires: [["caught"]] },
    { id: "caught", type: "function", func: 'global.get("loadCaught")(msg);\nreturn null;', outputs: 0, ...at(250), wires: [] },
  ].map((n) => (n.type === "tab" ? n : { y: 100, ...n }));
}

/** Deploys through the admin API and resolves once the flows have started (the API answers before). */
function deploy(type, flows) {
  return runtime.deploy(flows, type);
}

let nextId = 0;
/** Injects one image; resolves with how it ended (result or caught), or rejects after timeoutMs. */
function inject(payload, extra = {}, timeoutMs = 120_000) {
  const loadId = `l${++nextId}`;
  const sentAt = performance.now();
  const ended = new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(loadId);
      reject(new Error(`${loadId} neither processed nor caught within ${timeoutMs} ms`));
    }, timeoutMs);
    waiting.set(loadId, (record) => {
      clearTimeout(timer);
      resolvePromise({ ...record, sentAt, latencyMs: record.at - sentAt });
    });
  });
  // A copy, as a camera would deliver: a waiting or dropped message holds its own bytes.
  runtime.node("src").receive({ payload: Buffer.from(payload), loadId, ...extra });
  return ended;
}

async function inOrder(images, extra) {
  const outcomes = [];
  for (const image of images) outcomes.push(await inject(image, extra));
  return outcomes;
}

function failures(outcomes) {
  return outcomes.filter((o) => o.kind === "caught").map((o) => `${o.source}: ${o.code} ${o.message}`);
}

async function waitForReady() {
  // Deploys return before the detector has reloaded its model: inspect until one goes through.
  for (let attempt = 0; attempt < 600; attempt++) {
    const outcome = await inject(stream[0]);
    if (outcome.kind === "result") return;
    if (outcome.code !== "notTrained" && outcome.code !== "queueFull") throw new Error(failures([outcome])[0]);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the detector never became ready");
}

const percentile = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const rssMb = () => round(process.memoryUsage().rss / MB);
/**
 * Growth bounds per inspection after warm-up. Resident memory moves in allocator-sized steps, so
 * its slope gets more room than the collected heap's; a leak of 1.3 KB an inspection (2 GB a day
 * at 20 parts/s, which a 5 % limit on the total let through) is 5x over the first.
 */
const RSS_KB_PER_INSPECTION = 0.25;
const RETAINED_KB_PER_INSPECTION = 0.05;

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

/** Samples memory every second while `work` runs; returns the samples. */
async function sampled(work) {
  const t0 = performance.now();
  const samples = [];
  const take = () => {
    const m = process.memoryUsage();
    samples.push({
      s: round((performance.now() - t0) / 1000),
      rssMb: round(m.rss / MB),
      heapMb: round(m.heapUsed / MB),
      buffersMb: round(m.arrayBuffers / MB),
    });
  };
  take();
  const timer = setInterval(take, 1000);
  try {
    const result = await work();
    take();
    return { result, samples };
  } finally {
    clearInterval(timer);
  }
}

/** Open loop: `count` images at `rate` a second, whatever the line keeps up with. */
async function openLoop(name, rate, count) {
  const { result: outcomes, samples } = await sampled(async () => {
    const pending = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(inject(stream[i % stream.length]));
    }
    return Promise.all(pending);
  });
  const results = outcomes.filter((o) => o.kind === "result");
  const caught = outcomes.filter((o) => o.kind === "caught");
  const dropped = caught.filter((o) => o.code === "queueFull");
  const byNode = {};
  for (const o of dropped) byNode[o.source] = (byNode[o.source] ?? 0) + 1;
  const first = Math.min(...outcomes.map((o) => o.sentAt));
  const last = Math.max(...results.map((o) => o.at));
  const latencies = results.map((o) => o.latencyMs).sort((a, b) => a - b);
  // What stays once the phase is over and garbage is collected (with --expose-gc).
  await quiet();
  const settled = process.memoryUsage();
  return {
    phase: name,
    offeredPerS: round(rate, 2),
    sent: count,
    processed: results.length,
    dropped: dropped.length,
    droppedBy: byNode,
    otherErrors: caught.length - dropped.length,
    accounted: results.length + caught.length === count,
    throughputPerS: round((results.length * 1000) / (last - first), 2),
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p95: round(percentile(latencies, 95)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1) ?? NaN),
    },
    rssMb: { start: samples[0].rssMb, max: Math.max(...samples.map((s) => s.rssMb)), end: samples.at(-1).rssMb, afterGc: round(settled.rss / MB) },
    heapAfterGcMb: round(settled.heapUsed / MB),
    samples,
  };
}

function printPhase(p) {
  say(`\n== ${p.phase}: ${p.sent} images offered at ${p.offeredPerS}/s`);
  say(
    `   processed ${p.processed}, dropped ${p.dropped} ${JSON.stringify(p.droppedBy)}, other errors ${p.otherErrors}, every image accounted for: ${p.accounted}`,
  );
  say(
    `   throughput ${p.throughputPerS}/s; latency p50 ${p.latencyMs.p50} ms, p95 ${p.latencyMs.p95} ms, p99 ${p.latencyMs.p99} ms, max ${p.latencyMs.max} ms`,
  );
  say(
    `   resident memory ${p.rssMb.start} MB at start, ${p.rssMb.max} MB at most, ${p.rssMb.end} MB at the end, ${p.rssMb.afterGc} MB (heap ${p.heapAfterGcMb} MB) once collected`,
  );
  const step = Math.max(1, Math.ceil(p.samples.length / 8));
  say(
    `   over time (s: RSS MB / heap MB / array buffers MB): ${p.samples
      .filter((_, i) => i % step === 0 || i === p.samples.length - 1)
      .map((s) => `${s.s}: ${s.rssMb}/${s.heapMb}/${s.buffersMb}`)
      .join(", ")}`,
  );
}

/** Counts of the process's live handles and requests by kind (timers, watchers, sockets). */
function resources() {
  const counts = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** The live timers with their delay and callback name, to tell whose a leftover timer is. */
function timers() {
  return process
    ._getActiveHandles()
    .filter((h) => h?.constructor?.name === "Timeout")
    .map((h) => `${h._idleTimeout} ms ${h._onTimeout?.name || "anonymous"}${h._repeat ? " (repeating)" : ""}`);
}

async function quiet() {
  // Lets close handlers and pending timers finish, then collects garbage when allowed.
  await new Promise((r) => setTimeout(r, 500));
  if (typeof global.gc === "function") {
    global.gc();
    await new Promise((r) => setImmediate(r));
    global.gc();
  }
}

// ---------------------------------------------------------------- run
const report = {
  settings: {
    size: SIZE,
    train: TRAIN,
    calibrate: CALIBRATE,
    queue: Number(args.queue),
    policy: args.policy,
    node: process.version,
    gcExposed: typeof global.gc === "function",
  },
};
let exitCode = 0;
try {
  await deploy("full", flow(0));
  say(`Node-RED ${runtime.version} on 127.0.0.1:${port}, user directory ${userDir}`);
  const learnStart = performance.now();
  const learned = await inOrder(train, { learn: true });
  const calibrated = await inOrder(calibration, { calibrate: true });
  const setupFailures = failures([...learned, ...calibrated]);
  if (setupFailures.length > 0) throw new Error(`learning or calibration failed: ${setupFailures.join("; ")}`);
  say(
    `learned ${TRAIN} good parts and calibrated on ${CALIBRATE} in ${round((performance.now() - learnStart) / 1000)} s (${SIZE} px, embedded backbone, PatchCore)`,
  );

  // Sustainable rate: one image at a time, closed loop.
  const warm = await sampled(() => inOrder(stream.slice(0, WARMUP).concat(stream.slice(0, WARMUP))));
  const closed = warm.result.slice(WARMUP);
  const perImage = (closed.at(-1).at - closed[0].sentAt) / closed.length;
  const sustainable = 1000 / perImage;
  report.sustainablePerS = round(sustainable, 2);
  say(`sustainable rate (one image at a time, after ${WARMUP} warm-up images): ${report.sustainablePerS}/s (${round(perImage)} ms an image)`);

  if (!args.soak) {
    const count = Math.round(num("count", args.count ?? "200"));
    const phases = [];
    if (args.rate !== undefined) phases.push(["fixed rate", num("rate", args.rate)]);
    else if (args.burst !== undefined) phases.push([`burst ${args.burst}x`, num("burst", args.burst) * sustainable]);
    else phases.push(["steady 0.8x", 0.8 * sustainable], ["burst 10x", 10 * sustainable]);
    report.phases = [];
    for (const [name, rate] of phases) {
      const p = await openLoop(name, rate, count);
      printPhase(p);
      report.phases.push(p);
      if (!p.accounted) exitCode = 1;
    }
  } else {
    const count = Math.round(num("count", args.count ?? "30000"));
    const checkpoints = [];
    const every = Math.max(1, Math.round(count / 20));
    const warmAfter = Math.max(every, Math.round(count * 0.1));
    let done = 0;
    let failed = 0;
    const t0 = performance.now();
    // Two in flight: the line stays busy and nothing is dropped.
    const worker = async () => {
      while (done < count) {
        const index = done++;
        const outcome = await inject(stream[index % stream.length]);
        if (outcome.kind !== "result") failed++;
        if ((index + 1) % every === 0) {
          // Garbage collected first (with --expose-gc), so the heap figure is what is retained.
          if (typeof global.gc === "function") global.gc();
          const m = process.memoryUsage();
          checkpoints.push({
            inspections: index + 1,
            rssMb: round(m.rss / MB),
            heapMb: round(m.heapUsed / MB),
            buffersMb: round(m.arrayBuffers / MB),
            s: round((performance.now() - t0) / 1000),
          });
        }
      }
    };
    await Promise.all([worker(), worker()]);
    await quiet();
    const warmPoint = checkpoints.find((c) => c.inspections >= warmAfter) ?? checkpoints[0];
    const endRss = rssMb();
    const growth = round(((endRss - warmPoint.rssMb) / warmPoint.rssMb) * 100, 2);
    const warm = checkpoints.filter((c) => c.inspections >= warmPoint.inspections);
    // Resident memory settles later than the heap (glibc's arenas grow and shrink in steps of
    // megabytes for a while): its slope is taken over the second half of the run.
    const settled = checkpoints.filter((c) => c.inspections > count / 2);
    const rssKbPer = round(slope(settled.map((c) => [c.inspections, c.rssMb * 1024])), 3);
    const retainedKbPer = round(slope(warm.map((c) => [c.inspections, (c.heapMb + c.buffersMb) * 1024])), 3);
    report.soak = {
      inspections: count,
      failed,
      seconds: round((performance.now() - t0) / 1000),
      warmUpAt: warmPoint.inspections,
      rssAfterWarmUpMb: warmPoint.rssMb,
      rssEndMb: endRss,
      growthPercent: growth,
      rssKbPerInspection: rssKbPer,
      retainedKbPerInspection: retainedKbPer,
      checkpoints,
    };
    say(`\n== soak: ${count} inspections in ${report.soak.seconds} s, ${failed} not processed`);
    say(`   RSS after ${warmPoint.inspections} (warm-up): ${warmPoint.rssMb} MB; at the end: ${endRss} MB (${growth} %)`);
    say(
      `   growth per inspection: RSS ${rssKbPer} KB over the second half (limit ${RSS_KB_PER_INSPECTION}), heap + array buffers after GC ${retainedKbPer} KB after warm-up (limit ${RETAINED_KB_PER_INSPECTION})`,
    );
    say(
      `   checkpoints (inspections: RSS MB / heap MB / array buffers MB): ${checkpoints.map((c) => `${c.inspections}: ${c.rssMb}/${c.heapMb}/${c.buffersMb}`).join(", ")}`,
    );
    if (failed > 0 || rssKbPer > RSS_KB_PER_INSPECTION || retainedKbPer > RETAINED_KB_PER_INSPECTION) exitCode = 1;

    // Redeploys: what the line holds with the flow running, compared before and after. "Before" is
    // taken after one full redeploy, in the state every later one ends in (the model loaded from
    // its file): a line that has just learned also holds the patch head its learning used.
    const redeploys = Math.round(num("redeploys", args.redeploys));
    await deploy("full", flow(0));
    await waitForReady();
    await inOrder(stream.slice(0, 3));
    await quiet();
    // What the line holds: compared before and after the redeploys.
    const held = () => ({
      sessions: openSessionCount(),
      workers: sessionPool.live.length,
      transit: transitCount(),
      resources: resources(),
      timers: timers(),
      rssMb: rssMb(),
    });
    const before = held();
    for (let i = 1; i <= redeploys; i++) {
      await deploy(i % 2 === 1 ? "full" : "nodes", flow(i));
      await waitForReady();
      await inOrder(stream.slice(0, 3));
    }
    await deploy("full", flow(0));
    await waitForReady();
    await quiet();
    let after = held();
    const same = (a, b) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    if (!same(before.resources, after.resources)) {
      // Node-RED gives a stopping node 15 s; a timer still counting down from the last deploy
      // ends by itself. Measured again after that, what is left is left for good.
      say(`   right after the last deploy: ${JSON.stringify(after.resources)}, timers ${JSON.stringify(after.timers)}; measuring again in 16 s`);
      await new Promise((r) => setTimeout(r, 16_000));
      await quiet();
      after = held();
    }
    const kinds = [...new Set([...Object.keys(before.resources), ...Object.keys(after.resources)])].sort();
    const differing = kinds.filter((k) => (before.resources[k] ?? 0) !== (after.resources[k] ?? 0));
    const clean = before.sessions === after.sessions && before.workers === after.workers && before.transit === after.transit && differing.length === 0;
    report.redeploys = { count: redeploys, kinds: "odd: full, even: modified nodes (detector and threshold)", before, after, differing, clean };
    say(`\n== ${redeploys} redeploys (full and modified-nodes, alternating, through POST /flows), each followed by 3 inspections`);
    say(
      `   onnxruntime sessions ${before.sessions} -> ${after.sessions}; session worker threads ${before.workers} -> ${after.workers}; messages held for back-pressure ${before.transit} -> ${after.transit}`,
    );
    say(`   active handles ${kinds.map((k) => `${k} ${before.resources[k] ?? 0} -> ${after.resources[k] ?? 0}`).join(", ")}`);
    say(`   RSS ${before.rssMb} MB -> ${after.rssMb} MB; nothing left behind: ${clean}`);
    if (!clean) exitCode = 1;
  }
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  exitCode = 1;
} finally {
  // Stops the flows and the runtime, closes its server and removes its user directory.
  await runtime.stop();
  rmSync(watchDir, { recursive: true, force: true });
}
if (args.json) console.log(JSON.stringify(report, null, 2));
process.exit(exitCode);
