/**
 * The NG archive on disk: what it keeps and where (MVTec AD layout, read back by the dataset
 * readers of `defect-detection eval` and the detector's training folder), confirmed parts, the
 * bounds (count, bytes, age; oldest first), the free-space floor, the index rebuilt at open,
 * and a writer killed in the middle of a big image.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import sharp from "sharp";
import { Archive, ArchiveFiler, rasterizeRegion, type ArchiveBounds, type FreeSpace, type InspectedPart } from "../../src/lib/archive";
import { listTrainingImages } from "../../src/lib/detector/folder";
import { isDefectError } from "../../src/lib/errors";
import type { Verdict } from "../../src/lib/threshold/types";
import { loadMask, readMvtecDataset } from "../../src/offline/eval/mvtec-dataset";
import { PNG_SIGNATURE, WRITER_READY } from "../fixtures/archive-writer";
import { encodeJpeg, encodePng, makeImage } from "../fixtures/images";

const DAY = 24 * 60 * 60 * 1000;
const START = Date.UTC(2026, 5, 1, 8, 0, 0);
const PLENTY: FreeSpace = { bavail: 1_000_000, bsize: 4096 };
const BOUNDS: ArchiveBounds = { maxCount: 1000, maxBytes: 100 * 1024 * 1024, maxAgeMs: 30 * DAY, minFreeBytes: 0 };

/** A clock the test moves: one millisecond a part unless told otherwise. */
function testClock(): { now: () => number; advance: (ms: number) => void } {
  let t = START;
  return { now: () => t++, advance: (ms) => (t += ms) };
}

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (d.isDirectory()) out.push(...(await filesUnder(join(dir, d.name), `${prefix}${d.name}/`)));
    else out.push(`${prefix}${d.name}`);
  }
  return out.sort();
}

async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const f of await filesUnder(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

function part(verdict: Verdict, id: number, image: Buffer, extra: Partial<InspectedPart> = {}): InspectedPart {
  const partId = `P-${id}`;
  return {
    verdict,
    resultId: id,
    partId,
    result: { id, station: "s1", partId, verdict, score: id / 10 },
    image,
    overlay: undefined,
    transform: undefined,
    ...extra,
  };
}

describe("NG archive (lib)", function () {
  this.timeout(60_000);
  let root: string;
  let png: Buffer;
  let jpeg: Buffer;
  let overlay: Buffer;

  before(async function () {
    const picture = makeImage(40, 30, 3, (x, y, c) => (x * 5 + y * 3 + c * 40) % 256);
    png = await encodePng(picture);
    jpeg = await encodeJpeg(picture);
    overlay = await sharp({ create: { width: 20, height: 15, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .jpeg()
      .toBuffer();
  });

  beforeEach(async function () {
    root = await mkdtemp(join(tmpdir(), "defect-archive-"));
  });

  afterEach(async function () {
    await rm(root, { recursive: true, force: true });
  });

  async function open(bounds: Partial<ArchiveBounds> = {}, clock = testClock(), statfs: (path: string) => Promise<FreeSpace> = async () => PLENTY) {
    const opened = await Archive.open(root, { ...BOUNDS, ...bounds }, { now: clock.now, statfs });
    return { ...opened, clock };
  }

  it("files NG and UNCERTAIN parts and 1 OK part in N, and the dataset readers list exactly the archived images", async function () {
    const { archive, clock } = await open();
    const filer = new ArchiveFiler(archive, { okEvery: 3, rememberParts: 0 }, clock.now);
    const names: Record<number, string> = {};
    for (let id = 1; id <= 6; id++) {
      const filing = await filer.inspected(part("OK", id, png));
      if (filing.action === "written") names[id] = filing.entry.name;
      else assert.equal(filing.action, "notSampled");
    }
    const ng = await filer.inspected(part("NG", 7, jpeg, { overlay }));
    const uncertain = await filer.inspected(part("UNCERTAIN", 8, png));
    assert.deepEqual(Object.keys(names), ["1", "4"], "the first OK part, then every third");
    assert.equal(ng.action, "written");
    assert.equal(uncertain.action, "written");
    if (ng.action !== "written" || uncertain.action !== "written") return;
    const [n1, n4, n7, n8] = [names[1], names[4], ng.entry.name, uncertain.entry.name];
    assert.match(n7!, /^20260601-0800\d\d-\d{3}_7_P-7$/);

    assert.deepEqual(await filesUnder(root), [
      `records/test/ng/${n7}.json`,
      `records/test/ng/${n7}_overlay.jpg`,
      `records/test/uncertain/${n8}.json`,
      `records/train/good/${n1}.json`,
      `records/train/good/${n4}.json`,
      `test/ng/${n7}.jpg`,
      `test/uncertain/${n8}.png`,
      `train/good/${n1}.png`,
      `train/good/${n4}.png`,
    ]);
    // The original bytes, in their own encoding; the record and the overlay beside them.
    assert.ok((await readFile(join(root, "test", "ng", `${n7}.jpg`))).equals(jpeg));
    assert.ok((await readFile(join(root, "records", "test", "ng", `${n7}_overlay.jpg`))).equals(overlay));
    const record = JSON.parse(await readFile(join(root, "records", "test", "ng", `${n7}.json`), "utf8")) as Record<string, unknown>;
    assert.equal(record["format"], "defect-archive-record");
    assert.equal(record["version"], 1);
    assert.deepEqual(record["result"], { id: 7, station: "s1", partId: "P-7", verdict: "NG", score: 0.7 });

    const dataset = readMvtecDataset(root);
    assert.deepEqual(dataset.train, [join(root, "train", "good", `${n1}.png`), join(root, "train", "good", `${n4}.png`)]);
    assert.deepEqual(
      dataset.test.map((s) => [basename(s.path), s.type, s.defective, s.maskPath]),
      [
        [`${n7}.jpg`, "ng", true, null],
        [`${n8}.png`, "uncertain", true, null],
      ],
    );
    assert.deepEqual(await listTrainingImages(join(root, "train", "good")), dataset.train);
  });

  it("files confirmed parts under their label: an archived part moves, a remembered one is written, a defect's boxes become its mask", async function () {
    const { archive, clock } = await open();
    const filer = new ArchiveFiler(archive, { okEvery: 0, rememberParts: 5 }, clock.now);
    const ng = await filer.inspected(part("NG", 1, png, { overlay }));
    assert.equal((await filer.inspected(part("OK", 2, png))).action, "notSampled");
    if (ng.action !== "written") throw new Error("not written");

    // The NG part confirmed good: moved with its record and overlay, none left behind.
    const good = await filer.confirmed({ verdict: "good", region: undefined, partId: "P-1", image: undefined, transform: undefined });
    assert.equal(good.action, "written");
    const n1 = ng.entry.name;
    // The OK part (not archived, remembered) confirmed as a defect with a box.
    const box = { x: 10, y: 5, width: 8, height: 6 };
    const defect = await filer.confirmed({ verdict: "defect", region: { kind: "boxes", boxes: [box] }, partId: "P-2", image: undefined, transform: undefined });
    if (defect.action !== "written") throw new Error("not written");
    const n2 = defect.entry.name;
    assert.deepEqual(await filesUnder(root), [
      `ground_truth/defect/${n2}_mask.png`,
      `records/test/defect/${n2}.json`,
      `records/train/good/${n1}.json`,
      `records/train/good/${n1}_overlay.jpg`,
      `test/defect/${n2}.png`,
      `train/good/${n1}.png`,
    ]);
    const record = JSON.parse(await readFile(join(root, "records", "train", "good", `${n1}.json`), "utf8")) as Record<string, unknown>;
    assert.equal((record["confirmed"] as Record<string, unknown>)["verdict"], "good");
    assert.equal((record["result"] as Record<string, unknown>)["verdict"], "NG", "the inspection's record is kept");

    const dataset = readMvtecDataset(root);
    assert.deepEqual(dataset.train, [join(root, "train", "good", `${n1}.png`)]);
    const sample = dataset.test[0]!;
    assert.equal(dataset.test.length, 1);
    assert.equal(sample.maskPath, join(root, "ground_truth", "defect", `${n2}_mask.png`));
    const mask = await loadMask(sample, 40, 30);
    let inside = 0;
    for (let y = 0; y < 30; y++) {
      for (let x = 0; x < 40; x++) {
        const inBox = x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
        assert.equal(mask[y * 40 + x], inBox ? 1 : 0, `mask at ${x},${y}`);
        if (inBox) inside++;
      }
    }
    assert.equal(inside, 48);
    assert.equal(archive.count, 2);
    assert.equal(archive.bytes, await bytesUnder(root));
  });

  it("refuses a confirmation of a part it does not know and that carries no image (unknownPart), and takes one that carries its image", async function () {
    const { archive, clock } = await open();
    const filer = new ArchiveFiler(archive, { okEvery: 0, rememberParts: 5 }, clock.now);
    await assert.rejects(
      filer.confirmed({ verdict: "good", region: undefined, partId: "nobody", image: undefined, transform: undefined }),
      (error: unknown) => isDefectError(error) && error.code === "unknownPart" && /nobody/.test(error.message),
    );
    const carried = await filer.confirmed({ verdict: "good", region: undefined, partId: null, image: jpeg, transform: undefined });
    if (carried.action !== "written") throw new Error("not written");
    assert.deepEqual(await filesUnder(join(root, "train")), [`good/${carried.entry.name}.jpg`]);
  });

  it("keeps at most Max parts, removing the oldest first", async function () {
    const { archive, clock } = await open({ maxCount: 3 });
    const filer = new ArchiveFiler(archive, { okEvery: 1, rememberParts: 0 }, clock.now);
    for (let id = 1; id <= 5; id++) await filer.inspected(part("NG", id, png));
    assert.deepEqual(
      archive.entries().map((e) => e.name.split("_")[1]),
      ["3", "4", "5"],
    );
    assert.equal((await filesUnder(join(root, "test", "ng"))).length, 3);
    assert.equal((await filesUnder(join(root, "records", "test", "ng"))).length, 3);
    assert.equal(archive.bytes, await bytesUnder(root));
  });

  it("keeps the folder within Max size, oldest first, and refuses a part larger than the bound", async function () {
    const one = png.length + 400;
    const maxBytes = Math.floor(2.5 * one);
    const { archive, clock } = await open({ maxBytes });
    const filer = new ArchiveFiler(archive, { okEvery: 1, rememberParts: 0 }, clock.now);
    for (let id = 1; id <= 6; id++) {
      await filer.inspected(part(id % 2 === 0 ? "OK" : "NG", id, png));
      const size = await bytesUnder(root);
      assert.ok(size <= maxBytes, `${size} bytes after part ${id}, bound ${maxBytes}`);
      assert.equal(archive.bytes, size);
    }
    assert.deepEqual(
      archive.entries().map((e) => e.name.split("_")[1]),
      ["5", "6"],
    );
    const huge = Buffer.concat([PNG_SIGNATURE, Buffer.alloc(maxBytes)]);
    const refused = await filer.inspected(part("NG", 7, huge));
    assert.equal(refused.action, "tooLarge");
    assert.deepEqual(
      archive.entries().map((e) => e.name.split("_")[1]),
      ["5", "6"],
      "nothing removed for a part that cannot fit",
    );
  });

  it("removes parts older than Max age", async function () {
    const { archive, clock } = await open({ maxAgeMs: DAY });
    const filer = new ArchiveFiler(archive, { okEvery: 1, rememberParts: 0 }, clock.now);
    await filer.inspected(part("NG", 1, png));
    clock.advance(DAY / 2);
    await filer.inspected(part("NG", 2, png));
    // Part 1 is now 1.1 days old, part 2 0.6 days.
    clock.advance(0.6 * DAY);
    // At the next write, and on the node's timer.
    assert.equal(await archive.removeExpired(), 1);
    assert.deepEqual(
      archive.entries().map((e) => e.name.split("_")[1]),
      ["2"],
    );
    clock.advance(DAY);
    await filer.inspected(part("NG", 3, png));
    assert.deepEqual(
      archive.entries().map((e) => e.name.split("_")[1]),
      ["3"],
    );
    assert.equal((await filesUnder(root)).length, 2);
  });

  it("stops writing below the free-space floor and starts again when space is back", async function () {
    let free = 100 * 4096;
    const statfs = async (path: string): Promise<FreeSpace> => {
      assert.equal(path, root);
      return { bavail: BigInt(free), bsize: 1n };
    };
    const { archive, clock } = await open({ minFreeBytes: 1024 * 1024 }, testClock(), statfs);
    const filer = new ArchiveFiler(archive, { okEvery: 1, rememberParts: 0 }, clock.now);
    const refused = await filer.inspected(part("NG", 1, png));
    assert.deepEqual(refused, { action: "lowSpace", freeBytes: 100 * 4096 });
    assert.ok(png.length > 100);
    assert.deepEqual(await filesUnder(root), []);
    // Just above the floor, but not with the part on top of it.
    free = 1024 * 1024 + 100;
    assert.equal((await filer.inspected(part("NG", 2, png))).action, "lowSpace");
    free = 1000 * 1024 * 1024;
    assert.equal((await filer.inspected(part("NG", 3, png))).action, "written");
    assert.equal(archive.count, 1);
  });

  it("rebuilds its index from the folder at open: counts, bytes and order survive a restart, foreign files are left alone", async function () {
    const first = await open();
    const filer = new ArchiveFiler(first.archive, { okEvery: 1, rememberParts: 0 }, first.clock.now);
    for (let id = 1; id <= 4; id++) await filer.inspected(part(id === 2 ? "OK" : "NG", id, id === 3 ? jpeg : png, { overlay: id === 4 ? overlay : undefined }));
    await writeFile(join(root, "train", "good", "my-own-part.png"), png);
    const before = first.archive.entries().map((e) => [e.name, e.place.label, e.image.path]);
    const bytes = first.archive.bytes;

    const again = await open();
    assert.deepEqual(
      again.archive.entries().map((e) => [e.name, e.place.label, e.image.path]),
      before,
    );
    assert.equal(again.archive.bytes, bytes);
    assert.equal(again.archive.findPart("P-3")?.place.label, "ng");
    assert.equal(again.scan.staleTemps + again.scan.orphans, 0);

    // Lower bounds at the next deploy apply at once, oldest first; the foreign file stays.
    const smaller = await open({ maxCount: 2 });
    assert.equal(smaller.removed, 2);
    assert.deepEqual(
      smaller.archive.entries().map((e) => e.name.split("_")[1]),
      ["3", "4"],
    );
    assert.ok((await filesUnder(join(root, "train", "good"))).includes("my-own-part.png"));
  });

  it("leaves no partial file a reader takes when the writer is killed mid-write, and the next open cleans up", async function () {
    const { archive, clock } = await open({ minFreeBytes: 0 });
    const filer = new ArchiveFiler(archive, { okEvery: 1, rememberParts: 0 }, clock.now);
    const ok = await filer.inspected(part("OK", 1, png));
    const ng = await filer.inspected(part("NG", 2, png));
    if (ok.action !== "written" || ng.action !== "written") throw new Error("not written");

    const megabytes = 128;
    const script = join(__dirname, "..", "fixtures", "archive-writer.js");
    const child = spawn(process.execPath, [script, root, String(megabytes)], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the writer never got ready: ${stderr}`)), 20_000);
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        if (chunk.includes(WRITER_READY)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // Kill as soon as the image's temporary file is there, part written (bounded wait).
    const folder = join(root, "test", "ng");
    let temp: string | undefined;
    for (let i = 0; i < 20_000 && temp === undefined; i++) {
      const names = await readdir(folder);
      temp = names.find((n) => n.startsWith(".") && n.endsWith(".tmp"));
      if (temp === undefined) await new Promise((r) => setImmediate(r));
    }
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL", `the writer was killed (${stderr})`);
    assert.ok(temp !== undefined, "the image's temporary file appeared");
    const left = await filesUnder(root);
    assert.ok(left.includes(`test/ng/${temp}`), `the temporary file is still there: ${left.join(", ")}`);
    assert.ok((await stat(join(folder, temp))).size < megabytes * 1024 * 1024, "killed before the image was complete");

    // The readers list the two complete parts only, each whole.
    const dataset = readMvtecDataset(root);
    assert.deepEqual(dataset.train, [ok.entry.image.path]);
    assert.deepEqual(
      dataset.test.map((s) => s.path),
      [ng.entry.image.path],
    );
    assert.deepEqual(await listTrainingImages(join(root, "train", "good")), [ok.entry.image.path]);
    for (const path of [ok.entry.image.path, ng.entry.image.path]) assert.ok((await readFile(path)).equals(png));

    // The next deploy removes the temporary file and the killed part's record (written before its image).
    const reopened = await open();
    assert.equal(reopened.scan.staleTemps, 1);
    assert.equal(reopened.scan.orphans, 1);
    assert.deepEqual(
      reopened.archive.entries().map((e) => e.image.path),
      [ok.entry.image.path, ng.entry.image.path],
    );
    const after = await filesUnder(root);
    assert.deepEqual(
      after.filter((f) => f.endsWith(".tmp") || f.includes("_99_")),
      [],
    );
    assert.equal(reopened.archive.bytes, await bytesUnder(root));
  });

  it("draws a confirmed region on the original image: boxes, an original-space mask, a model-space mask through the transform", function () {
    const size = { width: 8, height: 6 };
    const rows = (pixels: Uint8Array): string[] =>
      Array.from({ length: size.height }, (_, y) => Array.from(pixels.subarray(y * size.width, (y + 1) * size.width), (v) => (v === 255 ? "#" : ".")).join(""));
    // A box from (1.5, 1) to (3.5, 2): every pixel it touches.
    assert.deepEqual(rows(rasterizeRegion({ kind: "boxes", boxes: [{ x: 1.5, y: 1, width: 2, height: 1 }] }, size, undefined)), [
      "........",
      ".###....",
      "........",
      "........",
      "........",
      "........",
    ]);
    const original = new Uint8Array(48);
    original[5 * 8 + 7] = 1;
    assert.equal(rasterizeRegion({ kind: "mask", mask: { data: original, width: 8, height: 6, space: "original" } }, size, undefined)[47], 255);
    assert.throws(
      () => rasterizeRegion({ kind: "mask", mask: { data: new Uint8Array(4), width: 2, height: 2, space: "original" } }, size, undefined),
      (error: unknown) => isDefectError(error) && error.code === "maskSizeMismatch",
    );
    // A 4x3 tensor stretched from the 8x6 image: each tensor pixel stands for 2x2 original pixels.
    const transform = { source: size, roi: { x: 0, y: 0, width: 8, height: 6 }, scaleX: 0.5, scaleY: 0.5, offsetX: 0, offsetY: 0, width: 4, height: 3 };
    const model = new Uint8Array(12);
    model[1 * 4 + 2] = 1;
    assert.deepEqual(rows(rasterizeRegion({ kind: "mask", mask: { data: model, width: 4, height: 3, space: "model" } }, size, transform)), [
      "........",
      "........",
      "....##..",
      "....##..",
      "........",
      "........",
    ]);
    assert.throws(
      () => rasterizeRegion({ kind: "mask", mask: { data: model, width: 4, height: 3, space: "model" } }, size, undefined),
      (error: unknown) => isDefectError(error) && error.code === "noTransformInput",
    );
  });

  it("creates its folder, and says which folder cannot be written", async function () {
    const blocker = join(root, "a-file");
    await writeFile(blocker, "not a folder");
    await assert.rejects(
      Archive.open(join(blocker, "archive"), BOUNDS),
      (error: unknown) => isDefectError(error) && error.code === "fileWriteFailed" && error.message.includes(blocker),
    );
    await mkdir(join(root, "nested"));
    const { archive } = await Archive.open(join(root, "nested", "deeper"), BOUNDS);
    assert.equal(archive.count, 0);
  });
});
