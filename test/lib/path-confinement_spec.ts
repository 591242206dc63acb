/**
 * Paths stay where they belong: a path confined to a folder is refused when `..`, another
 * absolute path or a symbolic link leads out of it, and accepted inside it (links inside
 * included); image files above the byte limit are refused from their size (also in a detector's
 * training folder); the files the
 * package writes stay in <userDir>/defect-detection whatever the node id.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { modelFilePath } from "../../src/lib/detector";
import { folderSamples, listTrainingImages } from "../../src/lib/detector/folder";
import { DefectError } from "../../src/lib/errors";
import { parsePreprocessOptions } from "../../src/lib/image";
import { confinePath, DEFAULT_MAX_DOWNLOAD_BYTES, isInside, loadImageFile, loadImageFileWithin, readImageFile } from "../../src/lib/source";
import { calibrationFilePath } from "../../src/lib/threshold/store";
import { encodePng, noiseImage } from "../fixtures/images";

const LIMITS = { maxPixels: 1_000_000 };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DefectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DefectError, `expected a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe("path confinement and file size limits (core)", function () {
  let base = "";
  let allowed = "";
  let outside = "";
  let png: Buffer;

  before(async function () {
    png = await encodePng(noiseImage(12, 8));
    // realpath: on some systems the temp folder itself is reached through a link.
    base = realpathSync(mkdtempSync(join(tmpdir(), "defect-confine-")));
    allowed = join(base, "allowed");
    outside = join(base, "outside");
    mkdirSync(join(allowed, "sub"), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(allowed, "in.png"), png);
    writeFileSync(join(allowed, "sub", "deep.png"), png);
    writeFileSync(join(outside, "secret.png"), png);
    symlinkSync(join(outside, "secret.png"), join(allowed, "link-out.png"));
    symlinkSync(outside, join(allowed, "dir-out"));
    symlinkSync(join(allowed, "sub", "deep.png"), join(allowed, "link-in.png"));
    symlinkSync(join(outside, "missing.png"), join(allowed, "dangling-out.png"));
    symlinkSync(join(allowed, "sub", "later.png"), join(allowed, "dangling-in.png"));
  });
  after(function () {
    rmSync(base, { recursive: true, force: true });
  });

  it("tells inside from outside without being fooled by similar names", function () {
    assert.equal(isInside("/data/images", "/data/images"), true);
    assert.equal(isInside("/data/images", "/data/images/a/b.png"), true);
    assert.equal(isInside("/data/images", "/data/images-old/a.png"), false);
    assert.equal(isInside("/data/images", "/data"), false);
    assert.equal(isInside("/data/images", "/data/images/..foo.png"), true, "a file name starting with .. is inside");
  });

  it("accepts relative and absolute paths inside the folder, and links that stay inside", async function () {
    assert.equal(await confinePath(allowed, "in.png"), join(allowed, "in.png"));
    assert.equal(await confinePath(allowed, "sub/../sub/deep.png"), join(allowed, "sub", "deep.png"));
    assert.equal(await confinePath(allowed, join(allowed, "sub", "deep.png")), join(allowed, "sub", "deep.png"));
    assert.equal(await confinePath(allowed, "link-in.png"), join(allowed, "link-in.png"));
  });

  it("refuses a path it cannot resolve instead of passing it on to be read", async function () {
    const missing = await rejectsWith(confinePath(allowed, "not-there.png"), "fileNotFound");
    assert.equal(missing.message, `Image file not found: ${join(allowed, "not-there.png")}`);
    await rejectsWith(confinePath(allowed, "no-folder/x.png"), "fileNotFound");
    // A dangling link that points inside is a file not (yet) there.
    await rejectsWith(confinePath(allowed, "dangling-in.png"), "fileNotFound");
  });

  it("refuses .. and absolute paths that lead out, naming the path and the folder", async function () {
    for (const path of ["../outside/secret.png", "sub/../../outside/secret.png", join(outside, "secret.png"), "/etc/passwd", ".."]) {
      const error = await rejectsWith(confinePath(allowed, path), "pathOutsideFolder");
      assert.deepEqual(error.details, { path, folder: allowed, reason: "the path leads out of it" });
      assert.equal(error.message, `${path} is outside the allowed folder ${allowed}: the path leads out of it`);
    }
  });

  it("refuses symbolic links that lead out: to a file, through a linked folder", async function () {
    for (const path of ["link-out.png", "dir-out/secret.png", join(allowed, "link-out.png")]) {
      const error = await rejectsWith(confinePath(allowed, path), "pathOutsideFolder");
      assert.equal(error.details["reason"], "a symbolic link leads out of it");
      // Where the link leads is not said: the path may come from a message.
      assert.equal(error.message, `${path} is outside the allowed folder ${allowed}: a symbolic link leads out of it`);
      assert.ok(!JSON.stringify(error.details).includes(outside));
    }
  });

  it("refuses a dangling link that points out, so a target appearing later is never read", async function () {
    const error = await rejectsWith(confinePath(allowed, "dangling-out.png"), "pathOutsideFolder");
    assert.equal(error.message, `dangling-out.png is outside the allowed folder ${allowed}: a symbolic link leads out of it`);
    writeFileSync(join(outside, "missing.png"), png);
    try {
      await rejectsWith(loadImageFileWithin(allowed, "dangling-out.png", LIMITS, "file"), "pathOutsideFolder");
    } finally {
      rmSync(join(outside, "missing.png"));
    }
  });

  it("loads a confined image, and refuses one outside before reading it", async function () {
    const image = await loadImageFileWithin(allowed, "sub/deep.png", LIMITS, "file");
    assert.ok(image.buffer.equals(png));
    assert.equal(image.path, join(allowed, "sub", "deep.png"));
    await rejectsWith(loadImageFileWithin(allowed, "link-out.png", LIMITS, "folder"), "pathOutsideFolder");
    await rejectsWith(loadImageFileWithin(join(base, "none"), "a.png", LIMITS, "file"), "folderNotFound");
  });

  it("refuses an image file above the byte limit from its size, and reads one at the limit", async function () {
    const path = join(allowed, "in.png");
    const error = await rejectsWith(readImageFile(path, png.length - 1), "fileTooLarge");
    assert.deepEqual(error.details, { path, maxBytes: png.length - 1, size: png.length });
    assert.ok((await readImageFile(path, png.length)).equals(png));
    await rejectsWith(loadImageFile(path, LIMITS, "file", 10), "fileTooLarge");
  });

  it("reads only regular files: a device, a FIFO or a directory is refused at once, whatever its size says", async function () {
    for (const device of ["/dev/zero", "/dev/urandom"]) {
      if (!existsSync(device)) continue;
      const error = await rejectsWith(readImageFile(device), "fileReadFailed");
      assert.equal(error.message, `Could not read image file ${device}: it is not a regular file (a directory, device, FIFO or socket)`);
      await rejectsWith(loadImageFile(device, LIMITS, "file"), "fileReadFailed");
    }
    await rejectsWith(readImageFile(allowed), "fileReadFailed");
    if (process.platform !== "win32") {
      // Nobody ever opens it for writing: a blocking open would hang this test until its timeout.
      const fifo = join(base, "pipe.png");
      execFileSync("mkfifo", [fifo]);
      const started = performance.now();
      const error = await rejectsWith(readImageFile(fifo), "fileReadFailed");
      assert.equal(error.details["reason"], "not a regular file");
      assert.ok(performance.now() - started < 2000, "refused without waiting for a writer");
    }
  });

  it("skips a training-folder file above the default Max size without reading it, and learns from the rest", async function () {
    const folder = join(base, "train");
    mkdirSync(folder);
    writeFileSync(join(folder, "a-good.png"), png);
    // Sparse: one byte over the limit on disk costs nothing, and reading it would take 50 MB.
    writeFileSync(join(folder, "b-huge.png"), png);
    truncateSync(join(folder, "b-huge.png"), DEFAULT_MAX_DOWNLOAD_BYTES + 1);
    const skipped: [string, string][] = [];
    const samples = [];
    const files = await listTrainingImages(folder);
    for await (const sample of folderSamples(files, parsePreprocessOptions({ preset: "none", width: 8, height: 8 }), LIMITS, (error, file) => {
      skipped.push([file, error instanceof DefectError ? error.code : String(error)]);
    })) {
      samples.push(sample);
    }
    assert.deepEqual(skipped, [[join(folder, "b-huge.png"), "fileTooLarge"]]);
    assert.deepEqual(
      samples.map((s) => s.label),
      [join(folder, "a-good.png")],
    );
  });

  it("keeps saved models and calibrations in <userDir>/defect-detection whatever the node id", function () {
    const userDir = join(base, "user");
    for (const id of ["../../etc/passwd", "..", "/abs/path", "a/../../b", "..\\..\\win", "ab12.cd34"]) {
      for (const path of [modelFilePath(userDir, id), calibrationFilePath(userDir, id)]) {
        assert.equal(dirname(path), join(userDir, "defect-detection"), `${id} -> ${path}`);
      }
    }
  });
});
