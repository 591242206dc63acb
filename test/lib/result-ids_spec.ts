/**
 * A station's result ids (src/lib/result): 1, 2, 3... in the order asked for, never given out
 * twice across reopening (a restart, a redeploy), the counter file always ahead of every id given
 * out, a damaged file refused by name, and a counter that cannot be saved reported, not fatal.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefectError } from "../../src/lib/errors";
import { RESULT_ID_BLOCK, RESULT_IDS_FORMAT, ResultIds, resultIdsPath } from "../../src/lib/result";

/** Small blocks, so a few ids cross several reservations. */
const BLOCK = 4;

async function savedNext(path: string): Promise<number> {
  const json = JSON.parse(await readFile(path, "utf8")) as { format: string; version: number; next: number };
  assert.equal(json.format, RESULT_IDS_FORMAT);
  assert.equal(json.version, 1);
  return json.next;
}

async function ids(counter: ResultIds, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await counter.next()).id);
  return out;
}

async function refusedOpen(path: string): Promise<DefectError> {
  try {
    await ResultIds.open(path, BLOCK);
  } catch (error) {
    assert.ok(error instanceof DefectError, String(error));
    assert.equal(error.code, "resultIdsFailed");
    return error;
  }
  assert.fail(`expected resultIdsFailed for ${path}`);
}

describe("result ids of a station", function () {
  let dir = "";
  let path = "";

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-result-ids-"));
    path = resultIdsPath(dir, "a1b2c3d4e5f60718");
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("lives beside the calibration, named after the node id, made safe for a file name", function () {
    assert.equal(resultIdsPath("/u", "a1b2.c3"), join("/u", "defect-detection", "a1b2.c3.results.json"));
    assert.equal(resultIdsPath("/u", "../x/y"), join("/u", "defect-detection", "__x_y.results.json"));
    assert.equal(RESULT_ID_BLOCK, 100);
  });

  it("numbers from 1, and the saved counter is ahead of every id the moment it is given out", async function () {
    const counter = await ResultIds.open(path, BLOCK);
    for (let expected = 1; expected <= 3 * BLOCK; expected++) {
      const { id, unsaved } = await counter.next();
      assert.equal(id, expected);
      assert.equal(unsaved, undefined);
      // A crash right now restarts from the file: it must be above this id.
      assert.ok((await savedNext(path)) > id, `saved ${await savedNext(path)} after id ${id}`);
    }
    await counter.close();
  });

  it("gives ids in the order asked for, also when many are asked for at once across reservations", async function () {
    const counter = await ResultIds.open(path, BLOCK);
    const granted = await Promise.all(Array.from({ length: 25 }, () => counter.next()));
    assert.deepEqual(
      granted.map((g) => g.id),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    await counter.close();
  });

  it("starts above every id given out when opened again (restart, redeploy), skipping at most one and a half blocks", async function () {
    const first = await ResultIds.open(path, BLOCK);
    const before = await ids(first, 6);
    await first.close();
    const second = await ResultIds.open(path, BLOCK);
    const after = await ids(second, 3);
    await second.close();
    const last = before.at(-1)!;
    assert.deepEqual(before, [1, 2, 3, 4, 5, 6]);
    // The block in use, and the next one reserved while half of it was left.
    assert.ok(after[0]! > last && after[0]! <= last + 1 + 1.5 * BLOCK, `after ${last}: ${after.join(",")}`);
    assert.deepEqual(after, [after[0]!, after[0]! + 1, after[0]! + 2]);
  });

  it("refuses a damaged counter file, naming it and what is wrong, and leaves it as it was", async function () {
    await mkdir(join(dir, "defect-detection"), { recursive: true });
    const cases: Array<[string, string]> = [
      ["{ not json", "the file is not JSON"],
      [JSON.stringify({ format: "other", version: 1, next: 5 }), `the file is not a ${RESULT_IDS_FORMAT} file`],
      [JSON.stringify({ format: RESULT_IDS_FORMAT, version: 2, next: 5 }), "the file has version 2, this package reads 1"],
      [JSON.stringify({ format: RESULT_IDS_FORMAT, version: 1, next: 0 }), "its next id 0 is not a whole number of 1 or more"],
      [JSON.stringify({ format: RESULT_IDS_FORMAT, version: 1, next: "7" }), 'its next id "7" is not a whole number of 1 or more'],
    ];
    for (const [content, reason] of cases) {
      await writeFile(path, content);
      const error = await refusedOpen(path);
      assert.ok(String(error.details["reason"]).startsWith(reason), `${content}: ${String(error.details["reason"])}`);
      assert.equal(error.details["path"], path);
      assert.match(error.message, /no result id is given out until it is repaired, or deleted \(ids then start at 1 again\)$/);
      assert.equal(await readFile(path, "utf8"), content, "the file is kept");
    }
  });

  it("numbers on in memory when the counter cannot be saved, and reports it with the next id, once a failed reservation", async function () {
    // A file where the folder should be: every write fails, and there is no counter to read.
    await writeFile(join(dir, "defect-detection"), "not a folder");
    const counter = await ResultIds.open(path, BLOCK);
    const granted = [];
    for (let i = 0; i < 2 * BLOCK; i++) granted.push(await counter.next());
    await counter.close();
    assert.deepEqual(
      granted.map((g) => g.id),
      Array.from({ length: 2 * BLOCK }, (_, i) => i + 1),
    );
    const reported = granted.filter((g) => g.unsaved !== undefined);
    assert.ok(reported[0] === granted[0], "the first id says its reservation was not saved");
    assert.ok(reported.length >= 2 && reported.length < granted.length, `${reported.length} reports for ${granted.length} ids`);
    const error = reported[0]!.unsaved!;
    assert.equal(error.code, "resultIdsFailed");
    assert.match(error.message, /^the next result ids could not be saved to .*a1b2c3d4e5f60718\.results\.json \([A-Z]+\): they are given out anyway/);
  });
});
