/**
 * The model file format and its atomic write: exact round trips, and every way a file can be
 * unusable (damaged, truncated, another version, not ours) named as such, never half-read.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMemoryBank, saveMemoryBank } from "../../src/lib/anomaly/patchcore/bank-store";
import { DefectError } from "../../src/lib/errors";
import {
  MODEL_FILE_VERSION,
  deleteFile,
  fileIdentity,
  readModelFile,
  requireSection,
  writeFileAtomic,
  writeModelFile,
  type ModelFileContent,
} from "../../src/lib/persist";

async function rejectsWith(promise: Promise<unknown>, code: string, message: string | RegExp): Promise<DefectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DefectError, `a DefectError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** Odd lengths, so every section but the last needs padding to the 8-byte alignment. */
function sampleContent(): ModelFileContent {
  return {
    metadata: { kind: "test", created: "2026-01-02T03:04:05.000Z", nested: { layers: ["a", "b"], ratio: 0.1 } },
    sections: {
      weights: Float32Array.from([1.5, -2.25, 3.125]),
      channels: Int32Array.from([7, -8, 9, 10, 11]),
      empty: new Float32Array(0),
      last: Float32Array.from([Math.PI]),
    },
  };
}

describe("model file format", function () {
  let dir = "";

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-persist-"));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips metadata and float32/int32 sections exactly", async function () {
    const path = join(dir, "m.ddm");
    const content = sampleContent();
    await writeModelFile(path, content);
    const file = await readModelFile(path);
    assert.equal(file.version, MODEL_FILE_VERSION);
    assert.deepEqual(file.metadata, content.metadata);
    assert.deepEqual(Object.keys(file.sections), ["weights", "channels", "empty", "last"]);
    assert.deepEqual(file.sections["weights"], content.sections["weights"]);
    assert.ok(file.sections["channels"] instanceof Int32Array);
    assert.deepEqual(Array.from(file.sections["channels"]), [7, -8, 9, 10, 11]);
    assert.equal(file.sections["empty"]?.length, 0);
    assert.equal(file.sections["last"]?.[0], Math.fround(Math.PI));
    const bytes = await readFile(path);
    assert.equal(bytes.subarray(0, 8).toString("latin1"), "DDMODEL\0");
    const digest = createHash("sha256")
      .update(bytes.subarray(0, bytes.length - 32))
      .digest();
    assert.ok(digest.equals(bytes.subarray(bytes.length - 32)), "ends with the SHA-256 of the rest");
  });

  it("keeps a section named __proto__ a section like any other: no prototype changes", async function () {
    const path = join(dir, "proto.ddm");
    // Object.fromEntries makes "__proto__" an own key, as a crafted file's header would.
    const sections = Object.fromEntries([
      ["__proto__", Float32Array.from([1, 2])],
      ["weights", Float32Array.from([3])],
    ]) as ModelFileContent["sections"];
    await writeModelFile(path, { metadata: { kind: "test" }, sections });
    const file = await readModelFile(path);
    assert.deepEqual(Object.keys(file.sections), ["__proto__", "weights"]);
    assert.deepEqual(Array.from(requireSection(file, path, "__proto__", "float32", 2)), [1, 2]);
    assert.equal(file.sections["weights"]?.[0], 3);
    // Names every object inherits are not sections of a file that lacks them.
    for (const name of ["constructor", "toString", "hasOwnProperty"]) {
      assert.throws(
        () => requireSection(file, path, name, "float32", 1),
        (e: unknown) => e instanceof DefectError && e.code === "modelFileInvalid",
      );
    }
  });

  it("refuses a file that names a section twice", async function () {
    const path = join(dir, "twice.ddm");
    await writeModelFile(path, { metadata: { kind: "test" }, sections: { aa: Float32Array.from([1]), bb: Float32Array.from([2]) } });
    const bytes = await readFile(path);
    const body = Buffer.from(
      bytes
        .subarray(0, bytes.length - 32)
        .toString("latin1")
        .replace('"name":"bb"', '"name":"aa"'),
      "latin1",
    );
    await writeFile(path, Buffer.concat([body, createHash("sha256").update(body).digest()]));
    await rejectsWith(readModelFile(path), "modelFileInvalid", /section "aa" appears twice/);
  });

  it("round-trips a PatchCore bank with and without a search projection", async function () {
    const data = Float32Array.from({ length: 5 * 3 }, (_, i) => i / 7);
    const projection = Float32Array.from([1, 0, 0, 1, 0, 0]);
    const path = join(dir, "bank.ddm");
    await saveMemoryBank(path, { data, size: 5, dim: 3, projection }, { trainedOn: 4 });
    const saved = await loadMemoryBank(path);
    assert.deepEqual(saved.bank, { data, size: 5, dim: 3, projection });
    assert.equal(saved.metadata["trainedOn"], 4);
    assert.deepEqual(saved.metadata["bank"], { size: 5, dim: 3, projectionDim: 2 });
    await saveMemoryBank(path, { data, size: 5, dim: 3, projection: null }, {});
    assert.equal((await loadMemoryBank(path)).bank.projection, null);
  });

  it("refuses a model file of another kind as a bank", async function () {
    const path = join(dir, "other.ddm");
    await writeModelFile(path, sampleContent());
    await rejectsWith(loadMemoryBank(path), "modelFileInvalid", `${path} is not a usable model file: it holds "test", not a PatchCore bank`);
  });

  it("refuses another format version and names both versions", async function () {
    const path = join(dir, "v2.ddm");
    await writeModelFile(path, sampleContent());
    const bytes = await readFile(path);
    bytes.writeUInt32LE(MODEL_FILE_VERSION + 1, 8);
    await writeFile(path, bytes);
    const error = await rejectsWith(
      readModelFile(path),
      "modelFileVersion",
      `${path} has model file format 2; this package reads format 1 (it was written by a newer version of the package)`,
    );
    assert.deepEqual(error.details, { path, version: 2, supported: 1 });
  });

  it("reports a file truncated anywhere, and never returns part of it", async function () {
    const path = join(dir, "cut.ddm");
    await writeModelFile(path, sampleContent());
    const whole = await readFile(path);
    for (const keep of [0, 10, 40, whole.length - 60, whole.length - 1]) {
      await writeFile(path, whole.subarray(0, keep));
      await rejectsWith(readModelFile(path), "modelFileInvalid", /truncated|checksum|header/);
    }
    await writeFile(path, whole.subarray(0, 10));
    await rejectsWith(readModelFile(path), "modelFileInvalid", `${path} is not a usable model file: only 10 bytes: the file is truncated or empty`);
  });

  it("detects a damaged byte through the checksum", async function () {
    const path = join(dir, "flip.ddm");
    await writeModelFile(path, sampleContent());
    const bytes = await readFile(path);
    const at = bytes.length - 40;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    await writeFile(path, bytes);
    await rejectsWith(readModelFile(path), "modelFileInvalid", `${path} is not a usable model file: the checksum does not match: the file is damaged`);
  });

  it("tells a missing file from one that is not a model file", async function () {
    await rejectsWith(readModelFile(join(dir, "none.ddm")), "fileNotFound", `no model file at ${join(dir, "none.ddm")}`);
    const text = join(dir, "notes.ddm");
    await writeFile(text, "just some text that is long enough to look like a header".repeat(2));
    await rejectsWith(readModelFile(text), "modelFileInvalid", `${text} is not a usable model file: it does not start with the DDMODEL signature`);
  });

  describe("atomic write", function () {
    it("leaves the previous file intact and no temporary file when writing fails midway", async function () {
      const path = join(dir, "model.ddm");
      await writeFile(path, "previous");
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield Buffer.from("new, half");
        throw new DefectError("inferenceFailed", "source failed");
      }
      await rejectsWith(writeFileAtomic(path, failing()), "inferenceFailed", "source failed");
      assert.equal(await readFile(path, "utf8"), "previous");
      assert.deepEqual(await readdir(dir), ["model.ddm"]);
    });

    it("creates no file at all when the first write fails", async function () {
      const path = join(dir, "new.ddm");
      function* failing(): Generator<Uint8Array> {
        throw new Error("disk gone");
      }
      await rejectsWith(writeFileAtomic(path, failing()), "fileWriteFailed", `Could not write ${path}: disk gone`);
      assert.deepEqual(await readdir(dir), []);
    });

    it("fails with fileWriteFailed when the target cannot be replaced, cleaning the temporary file", async function () {
      const path = join(dir, "taken");
      await mkdir(join(path, "inside"), { recursive: true });
      const error = await rejectsWith(writeFileAtomic(path, [Buffer.from("x")]), "fileWriteFailed", new RegExp(`^Could not write ${path}: `));
      assert.ok(["EISDIR", "ENOTEMPTY", "EEXIST", "EPERM"].includes(String(error.details["reason"])), String(error.details["reason"]));
      assert.deepEqual(await readdir(dir), ["taken"]);
    });

    it("replaces the content completely and creates missing folders", async function () {
      const path = join(dir, "a", "b", "c.bin");
      await writeFileAtomic(path, [Buffer.from("one"), Buffer.from("two")]);
      await writeFileAtomic(path, [Buffer.from("3")]);
      assert.equal(await readFile(path, "utf8"), "3");
      assert.deepEqual(await readdir(join(dir, "a", "b")), ["c.bin"]);
    });
  });

  it("identifies a file by size and SHA-256 of its content", async function () {
    const path = join(dir, "backbone.onnx");
    const content = Buffer.from("pretend weights");
    await writeFile(path, content);
    assert.deepEqual(await fileIdentity(path), {
      name: "backbone.onnx",
      size: content.length,
      sha256: createHash("sha256").update(content).digest("hex"),
    });
    await rejectsWith(fileIdentity(join(dir, "gone.onnx")), "modelNotFound", `model file not found: ${join(dir, "gone.onnx")}`);
  });

  it("deletes a file and says whether there was one", async function () {
    const path = join(dir, "x.ddm");
    await writeFile(path, "x");
    assert.equal(await deleteFile(path), true);
    assert.equal(await deleteFile(path), false);
  });
});
