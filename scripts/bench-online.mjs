// Inspection latency of the detector's PatchCore model while a background coreset refresh
// runs, against idle: the refresh (learning on the line, bank over its cap) runs on a worker
// thread, so inspections should not slow down. Synthetic parts and the embedded backbone: no
// data set needed. Run after `npm run build`:
//   node scripts/bench-online.mjs
// BENCH_ONLINE_DIST points at another build (default dist), BENCH_ONLINE_SIZE sets the tensor
// side (default 256), BENCH_ONLINE_CAP the bank cap (default 20000), BENCH_THREADS the
// onnxruntime threads (default 2).
import { resolve } from "node:path";
import { createRequire } from "node:module";

const root = resolve(new URL("..", import.meta.url).pathname);
const dist = resolve(root, process.env.BENCH_ONLINE_DIST || "dist");
const require = createRequire(import.meta.url);
const { openPatchExtractor } = require(`${dist}/lib/features/extractor.js`);
const { EMBEDDED_BACKBONE, EMBEDDED_DEFAULT_LAYERS } = require(`${dist}/lib/features/embedded.js`);
const { parsePreprocessOptions, preprocessImage } = require(`${dist}/lib/image/index.js`);
const sharp = require("sharp");
const { generateGood } = require(`${dist}/offline/synth/index.js`);
const { buildMemoryBank, DEFAULT_PATCHCORE_OPTIONS } = require(`${dist}/lib/anomaly/patchcore/patchcore.js`);
const { OnlineBank } = require(`${dist}/lib/detector/online/online-bank.js`);
const { freshCounters } = require(`${dist}/lib/detector/storage/online-store.js`);
const { emptyDrift } = require(`${dist}/lib/detector/online/drift.js`);

const size = Number(process.env.BENCH_ONLINE_SIZE || 256);
const cap = Number(process.env.BENCH_ONLINE_CAP || 20000);
const threads = Number(process.env.BENCH_THREADS || 2);
const session = { intraOpThreads: threads };
const IDLE_RUNS = 60;
const REFRESHES = 3;

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, median: at(0.5), p95: at(0.95), max: s[s.length - 1] };
};
const fmt = (x) => x.toFixed(1);

const options = parsePreprocessOptions({ preset: "imagenet", width: size, height: size });
const tensors = [];
for (let seed = 1; seed <= 24; seed++) {
  const image = generateGood("cast-surface", seed, size);
  const png = await sharp(Buffer.from(image.data.buffer), { raw: { width: image.width, height: image.height, channels: image.channels } })
    .png()
    .toBuffer();
  tensors.push((await preprocessImage(png, options, { maxPixels: 1e8 })).tensor);
}
const extractor = await openPatchExtractor({ model: EMBEDDED_BACKBONE, layers: EMBEDDED_DEFAULT_LAYERS }, session);
const embeddings = [];
for (const t of tensors) embeddings.push(await extractor.embed(t));
const { patches, dim } = embeddings[0];
const all = new Float32Array(embeddings.length * patches * dim);
embeddings.forEach((e, i) => all.set(e.data, i * patches * dim));
const patchcore = { ...DEFAULT_PATCHCORE_OPTIONS, maxBankSize: cap };
const start = await buildMemoryBank(all, embeddings.length * patches, dim, { ...patchcore, coresetRatio: 1, maxBankSize: Math.floor(cap * 0.75) }, session);
const empty = new Float32Array(0);
const snapshot = { bank: start, pending: empty, defect: empty, counters: freshCounters(), drift: emptyDrift(), labelled: [], labelledRevision: 0, head: null };
const bank = await OnlineBank.open(snapshot, patchcore, session);

async function inspect(i) {
  const t0 = performance.now();
  const e = await extractor.embed(tensors[i % tensors.length]);
  await bank.score(e, size, size);
  return performance.now() - t0;
}

for (let i = 0; i < 5; i++) await inspect(i); // warm-up
const idle = [];
for (let i = 0; i < IDLE_RUNS; i++) idle.push(await inspect(i));

const during = [];
const refreshMs = [];
for (let r = 0; r < REFRESHES; r++) {
  // Confirm enough parts to pass the cap: the flush starts a background refresh.
  let k = 0;
  while (bank.counts().good + bank.counts().pending <= cap)
    bank.add("good", { ...embeddings[k++ % embeddings.length], patchScores: new Float32Array(patches), score: 0 });
  const t0 = performance.now();
  await bank.flush();
  if (!bank.counts().refreshing) throw new Error("no refresh started");
  let i = 0;
  while (bank.counts().refreshing) during.push(await inspect(i++));
  await bank.idle();
  refreshMs.push(performance.now() - t0);
}
await bank.release();
await extractor.release();

const a = stats(idle);
const b = stats(during);
console.log(
  `embedded backbone (${EMBEDDED_DEFAULT_LAYERS.join(",")}), ${size}x${size} tensor, ${patches} patches x ${dim} values, bank cap ${cap}, ${threads} onnxruntime threads`,
);
console.log(
  `refresh (coreset of ${cap}+ rows to ${Math.floor(cap * 0.8)} on a worker, then swap): ${refreshMs.map((m) => (m / 1000).toFixed(1)).join(", ")} s`,
);
console.log("| inspections | n | median ms | p95 ms | max ms |");
console.log("|---|---|---|---|---|");
console.log(`| idle | ${a.n} | ${fmt(a.median)} | ${fmt(a.p95)} | ${fmt(a.max)} |`);
console.log(`| during a background refresh | ${b.n} | ${fmt(b.median)} | ${fmt(b.p95)} | ${fmt(b.max)} |`);
