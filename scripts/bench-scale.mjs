// Scale-out over MQTT: throughput of 1, 2 and 3 inspection workers behind a local mosquitto,
// and the broker's added latency per part. This script plays the line (it publishes parts in
// the package's wire format and collects the results, as part wire and part collector do); each
// worker is a Node-RED runtime in its own process running the worker flow of the scale-out test
// (test/fixtures/scale-flows.ts) with a detector of fixed cost:
//   wait: each part holds the worker for COST ms, one part at a time, without using a core
//         (a detector on hardware of its own: a GPU, another box); scaling is the architecture's.
//   spin: each part burns COST ms of CPU (a detector on this machine's cores): scaling stops
//         where the cores do.
// Needs Debian's mosquitto (apt-get install -y mosquitto). Run: npm run bench:scale
// BENCH_SCALE_PARTS (default 300), BENCH_SCALE_COST (ms, default 20), BENCH_SCALE_WORKERS
// (default 1,2,3), BENCH_SCALE_LATENCY_PARTS (default 200).
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const require = createRequire(import.meta.url);
const built = (path) => require(resolve(root, "build-test", path));
const { mosquittoPath, startMosquitto } = built("test/fixtures/mosquitto.js");
const { TOPICS, workerFlows } = built("test/fixtures/scale-flows.js");
const { startRuntimeProcess } = built("test/fixtures/scale-processes.js");
const { encodePart, decodeResult } = built("src/lib/scale/index.js");
const { generateGood } = built("src/offline/synth/index.js");
const { connectAsync } = require("mqtt");
const sharp = require("sharp");

const PARTS = Number(process.env.BENCH_SCALE_PARTS || 300);
const COST = Number(process.env.BENCH_SCALE_COST || 20);
const WORKERS = (process.env.BENCH_SCALE_WORKERS || "1,2,3").split(",").map(Number);
const LATENCY_PARTS = Number(process.env.BENCH_SCALE_LATENCY_PARTS || 200);
const RESULT_WAIT_MS = 120_000;
const WARMUP_WAIT_MS = 1000;

const binary = mosquittoPath();
if (binary === undefined) {
  console.error("mosquitto is not installed: apt-get install -y mosquitto");
  process.exit(1);
}

const raw = generateGood("printed-pattern", 1, 64);
const image = await sharp(Buffer.from(raw.data), { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
  .png()
  .toBuffer();

const broker = await startMosquitto(binary);
const client = await connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-line-${process.pid}`, clean: true });
const waiting = new Map();
client.on("message", (_topic, payload) => {
  const result = decodeResult(payload);
  const done = waiting.get(result.partId);
  if (done !== undefined) {
    waiting.delete(result.partId);
    done(result);
  }
});
await client.subscribeAsync(TOPICS.results, { qos: 1 });

let serial = 0;
/** Publishes one part; resolves with its result. */
function send(waitMs = RESULT_WAIT_MS) {
  const partId = `b${process.pid}-${serial++}`;
  const fields = encodePart({ partId, image, recipe: null, jobId: null, captured: new Date().toISOString(), attempt: 1, contentType: "image/png" });
  const result = new Promise((resolveResult, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(partId);
      reject(new Error(`no result for ${partId} in ${waitMs} ms`));
    }, waitMs);
    waiting.set(partId, (r) => {
      clearTimeout(timer);
      resolveResult(r);
    });
  });
  const published = client.publishAsync(TOPICS.parts, fields.payload, {
    qos: 1,
    properties: { contentType: fields.contentType, userProperties: fields.userProperties },
  });
  return { published, result };
}

async function withWorkers(count, cost, run) {
  const workers = await Promise.all(
    Array.from({ length: count }, (_, i) => startRuntimeProcess(`bench-w${i + 1}`, workerFlows({ port: broker.port, name: `w${i + 1}`, detector: cost }))),
  );
  try {
    // The workers subscribe once their flows run and have connected: until every one has
    // answered a part, parts are sent one by one (a part published before is nobody's).
    const seen = new Set();
    for (let tries = 0; seen.size < count; tries++) {
      if (tries > 200) throw new Error(`only ${seen.size} of ${count} workers answered`);
      const answered = await send(WARMUP_WAIT_MS).result.catch(() => undefined);
      if (answered !== undefined) seen.add(answered.worker);
    }
    return await run();
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function throughput(count, cost) {
  return withWorkers(count, cost, async () => {
    const started = performance.now();
    const parts = Array.from({ length: PARTS }, () => send());
    const results = await Promise.all(parts.map((p) => p.result));
    const seconds = (performance.now() - started) / 1000;
    const shares = {};
    for (const r of results) shares[r.worker] = (shares[r.worker] ?? 0) + 1;
    return { partsPerSecond: PARTS / seconds, seconds, shares };
  });
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const quantile = (values, q) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/**
 * The broker alone: two MQTT.js clients, one echoing, parts one at a time. MQTT.js leaves Nagle's
 * algorithm on (Node-RED's mqtt nodes use it as it is); with no delay set, the round trip is the
 * broker's own cost.
 */
async function echoRoundTrip(noDelay) {
  const a = await connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-a-${process.pid}` });
  const e = await connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-e-${process.pid}` });
  try {
    if (noDelay) for (const c of [a, e]) c.stream.setNoDelay(true);
    await e.subscribeAsync("bench/echo/in", { qos: 1 });
    e.on("message", (_t, payload) => e.publish("bench/echo/out", payload, { qos: 1 }));
    await a.subscribeAsync("bench/echo/out", { qos: 1 });
    const times = [];
    for (let i = 0; i < LATENCY_PARTS; i++) {
      const t0 = performance.now();
      await new Promise((resolveEcho) => {
        a.once("message", resolveEcho);
        a.publish("bench/echo/in", image, { qos: 1 });
      });
      times.push(performance.now() - t0);
    }
    return times;
  } finally {
    await a.endAsync();
    await e.endAsync();
  }
}

try {
  for (const noDelay of [false, true]) {
    const times = await echoRoundTrip(noDelay);
    console.log(
      `broker alone, MQTT.js echo, ${noDelay ? "TCP no delay" : "default (Nagle on)"}: round trip median ${median(times).toFixed(2)} ms, p95 ${quantile(times, 0.95).toFixed(2)} ms`,
    );
  }
  console.log(
    `bench:scale  ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), mosquitto on 127.0.0.1, ${PARTS} parts of ${image.length} bytes, detector cost ${COST} ms`,
  );
  // One part at a time through a worker of cost 0: line -> broker -> worker flow -> broker -> line.
  const latency = await withWorkers(1, { ms: 0, spin: false }, async () => {
    const times = [];
    for (let i = 0; i < LATENCY_PARTS; i++) {
      const t0 = performance.now();
      await send().result;
      times.push(performance.now() - t0);
    }
    return times;
  });
  console.log(
    `round trip through the broker and a worker of cost 0 (${LATENCY_PARTS} parts one by one): median ${median(latency).toFixed(2)} ms, p95 ${quantile(latency, 0.95).toFixed(2)} ms`,
  );
  for (const spin of [false, true]) {
    const ideal = 1000 / COST;
    for (const count of WORKERS) {
      const r = await throughput(count, { ms: COST, spin });
      console.log(
        `${spin ? "spin" : "wait"}  ${count} worker(s): ${r.partsPerSecond.toFixed(1)} parts/s (ideal ${(ideal * count).toFixed(1)}), ${r.seconds.toFixed(2)} s, shares ${JSON.stringify(r.shares)}`,
      );
    }
  }
} finally {
  await client.endAsync();
  await broker.stop();
}
