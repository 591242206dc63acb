// `npm run soak:archive`: 10,000 inspections through the NG archive's filer (the code the
// defect-archive node runs) into a folder bounded at 50 MB, with synthetic parts: about 1 in 4 NG
// with an overlay, 1 in 20 UNCERTAIN, the rest OK (1 in 10 kept), every 97th part confirmed
// (good, or defect with a box), and the archive closed and reopened (its index rebuilt from the
// folder) every 2,500 parts. Asserts that the archive never holds more than the bound (its own
// accounting after every part, the folder's real size every 100 parts, at each reopen and at the
// end), that its accounting equals the folder's size, and that the dataset reader of
// `defect-detection eval` lists exactly the archived images at the end. Prints the figures.
//
//   npm run soak:archive                        10,000 parts, 50 MB
//   npm run soak:archive -- --count 2000 --mb 10 --json
//
// Everything runs in this process in a throw-away folder under the system's temp folder.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const require = createRequire(import.meta.url);
const sharp = require("sharp");
const { Archive, ArchiveFiler } = require("../dist/lib/archive");
const { generateGood, paintDefect } = require("../dist/offline/synth");
const { readMvtecDataset } = require("../dist/offline/eval/mvtec-dataset");

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "10000" },
    mb: { type: "string", default: "50" },
    size: { type: "string", default: "128" },
    json: { type: "boolean", default: false },
  },
});
const COUNT = Number(values.count);
const MAX_BYTES = Number(values.mb) * 1024 * 1024;
const SIZE = Number(values.size);
/** Distinct images to draw from: enough that entries differ, few enough to make quickly. */
const POOL = 24;
const CHECK_EVERY = 100;
const REOPEN_EVERY = 2500;
const CONFIRM_EVERY = 97;

function encode(image) {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } })
    .png()
    .toBuffer();
}

/** Every file under `dir`, and their bytes. */
function folderSize(dir) {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
    files++;
  }
  return { bytes, files };
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), "defect-archive-soak-"));
  const bounds = { maxCount: 1_000_000, maxBytes: MAX_BYTES, maxAgeMs: 30 * 24 * 3600 * 1000, minFreeBytes: 100 * 1024 * 1024 };
  const goods = [];
  const defects = [];
  for (let i = 0; i < POOL; i++) {
    const good = generateGood("cast-surface", i + 1, SIZE);
    goods.push(await encode(good));
    defects.push(await encode(paintDefect(good, ["scratch", "spot", "crack", "hole"][i % 4], i + 1).image));
  }
  const overlay = await sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .jpeg({ quality: 80 })
    .toBuffer();

  let { archive } = await Archive.open(root, bounds);
  let filer = new ArchiveFiler(archive, { okEvery: 10, rememberParts: 50 });
  const counts = {
    OK: 0,
    NG: 0,
    UNCERTAIN: 0,
    written: 0,
    notSampled: 0,
    lowSpace: 0,
    tooLarge: 0,
    confirmed: 0,
    unknownPart: 0,
    reopened: 0,
    removedAtOpen: 0,
  };
  let maxAccounted = 0;
  let maxMeasured = 0;
  let removed = 0;
  const started = performance.now();
  const loopStart = process.memoryUsage().rss;

  function checkFolder(label) {
    const { bytes } = folderSize(root);
    maxMeasured = Math.max(maxMeasured, bytes);
    assert.ok(bytes <= MAX_BYTES, `${label}: the folder holds ${bytes} bytes, bound ${MAX_BYTES}`);
    assert.equal(archive.bytes, bytes, `${label}: the archive's accounting matches the folder`);
  }

  for (let n = 1; n <= COUNT; n++) {
    const r = (n * 2654435761) % 100;
    const verdict = r < 25 ? "NG" : r < 30 ? "UNCERTAIN" : "OK";
    counts[verdict]++;
    const partId = `part-${n}`;
    const image = verdict === "OK" ? goods[n % POOL] : defects[n % POOL];
    const result = { id: n, station: "soak", partId, jobId: null, recipe: null, created: new Date().toISOString(), verdict, score: r / 10, regions: [] };
    const filing = await filer.inspected({
      verdict,
      resultId: n,
      partId,
      result,
      image,
      overlay: verdict === "OK" ? undefined : overlay,
      transform: undefined,
    });
    counts[filing.action]++;
    if (filing.action === "written") removed += filing.removed;
    if (n % CONFIRM_EVERY === 0) {
      const target = `part-${n - 3}`;
      const region = n % 2 === 0 ? { kind: "boxes", boxes: [{ x: 10, y: 10, width: 20, height: 8 }] } : undefined;
      try {
        const confirmed = await filer.confirmed({
          verdict: region === undefined ? "good" : "defect",
          region,
          partId: target,
          image: undefined,
          transform: undefined,
        });
        counts.confirmed++;
        if (confirmed.action === "written") removed += confirmed.removed;
      } catch (error) {
        if (error.code !== "unknownPart") throw error;
        counts.unknownPart++;
      }
    }
    maxAccounted = Math.max(maxAccounted, archive.bytes);
    assert.ok(archive.bytes <= MAX_BYTES, `part ${n}: the archive accounts ${archive.bytes} bytes, bound ${MAX_BYTES}`);
    if (n % CHECK_EVERY === 0) checkFolder(`part ${n}`);
    if (n % REOPEN_EVERY === 0 && n < COUNT) {
      const before = { count: archive.count, bytes: archive.bytes };
      await archive.settle();
      const reopened = await Archive.open(root, bounds);
      archive = reopened.archive;
      filer = new ArchiveFiler(archive, { okEvery: 10, rememberParts: 50 });
      counts.reopened++;
      counts.removedAtOpen += reopened.removed + reopened.scan.staleTemps + reopened.scan.orphans;
      assert.deepEqual({ count: archive.count, bytes: archive.bytes }, before, `reopened at part ${n}: the rebuilt index matches`);
      checkFolder(`reopen at part ${n}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  checkFolder("end");
  const dataset = readMvtecDataset(root);
  const listed = [...dataset.train, ...dataset.test.map((s) => s.path)].sort();
  const archived = archive
    .entries()
    .map((e) => e.image.path)
    .sort();
  assert.deepEqual(listed, archived, "the dataset reader lists exactly the archived images");
  const masks = dataset.test.filter((s) => s.maskPath !== null).length;
  const { files } = folderSize(root);
  const figures = {
    inspections: COUNT,
    bound_mb: MAX_BYTES / 1024 / 1024,
    image_px: SIZE,
    verdicts: { OK: counts.OK, NG: counts.NG, UNCERTAIN: counts.UNCERTAIN },
    written: counts.written,
    not_sampled: counts.notSampled,
    low_space: counts.lowSpace,
    too_large: counts.tooLarge,
    confirmed: counts.confirmed,
    confirm_unknown_part: counts.unknownPart,
    removed_oldest_first: removed,
    reopened: counts.reopened,
    removed_at_reopen: counts.removedAtOpen,
    max_accounted_mb: +(maxAccounted / 1024 / 1024).toFixed(3),
    max_measured_mb: +(maxMeasured / 1024 / 1024).toFixed(3),
    final_entries: archive.count,
    final_files: files,
    final_mb: +(archive.bytes / 1024 / 1024).toFixed(3),
    dataset: { train: dataset.train.length, test: dataset.test.length, masks },
    seconds: +seconds.toFixed(1),
    parts_per_second: +(COUNT / seconds).toFixed(1),
    rss_growth_mb: +((process.memoryUsage().rss - loopStart) / 1024 / 1024).toFixed(1),
  };
  rmSync(root, { recursive: true, force: true });
  if (values.json) console.log(JSON.stringify(figures));
  else for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(22)} ${typeof v === "object" ? JSON.stringify(v) : v}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
