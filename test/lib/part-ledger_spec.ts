/**
 * The line's accounting of parts and results: each part ends exactly once, with its first result
 * or as lost after its last publication timed out; copies and late results are counted, never
 * passed on; a part is published again while retries are left; the pending count is bounded.
 */
import assert from "node:assert/strict";
import type { ResultRecord } from "../../src/lib/message";
import { PartLedger, type WirePart, type WireResult } from "../../src/lib/scale";

const OPTIONS = { timeoutMs: 1000, retries: 2, maxPending: 3, remember: 2 };

function part(partId: string): WirePart {
  return { partId, image: Buffer.from([1]), recipe: null, jobId: null, captured: "", attempt: 1, contentType: "image/png" };
}

function result(partId: string, worker = "w1", attempt = 1): WireResult {
  return { format: "defect-result", version: 1, partId, attempt, worker, record: { partId, verdict: "OK", score: 0 } as unknown as ResultRecord };
}

describe("part ledger", function () {
  it("passes on the first result of a part only, and counts copies by what they are", function () {
    const ledger = new PartLedger(OPTIONS);
    assert.equal(ledger.send(part("a"), 0), "ok");
    assert.equal(ledger.send(part("b"), 0), "ok");
    assert.equal(ledger.receive(result("a", "w1")), "first");
    assert.equal(ledger.receive(result("a", "w2", 2)), "duplicate");
    assert.equal(ledger.receive(result("zz")), "unknown");
    assert.equal(ledger.receive(result("b", "w2")), "first");
    assert.deepEqual(ledger.counts, { sent: 2, results: 2, duplicates: 1, late: 0, unknown: 1, republished: 0, lost: 0, pending: 0 });
    assert.deepEqual([...ledger.byWorker].sort(), [
      ["w1", 1],
      ["w2", 1],
    ]);
  });

  it("publishes a late part again while retries are left, then ends it as lost; its late result is dropped", function () {
    const ledger = new PartLedger(OPTIONS);
    ledger.send(part("a"), 0);
    assert.deepEqual(ledger.due(999), { republish: [], lost: [] }, "not before its timeout");
    assert.deepEqual(
      ledger.due(1000).republish.map((p) => [p.partId, p.attempt]),
      [["a", 2]],
    );
    assert.deepEqual(
      ledger.due(2000).republish.map((p) => [p.partId, p.attempt]),
      [["a", 3]],
    );
    const last = ledger.due(3000);
    assert.deepEqual(last.republish, []);
    assert.deepEqual(
      last.lost.map((p) => [p.partId, p.attempt]),
      [["a", 3]],
    );
    assert.deepEqual(ledger.due(9000), { republish: [], lost: [] }, "a lost part ends once");
    assert.equal(ledger.receive(result("a")), "late");
    assert.deepEqual(ledger.counts, { sent: 1, results: 0, duplicates: 0, late: 1, unknown: 0, republished: 2, lost: 1, pending: 0 });
  });

  it("a result ends a part that was published again: its later copy is a duplicate, and it is not lost", function () {
    const ledger = new PartLedger({ ...OPTIONS, retries: 1 });
    ledger.send(part("a"), 0);
    ledger.due(1000);
    assert.equal(ledger.receive(result("a", "w1", 1)), "first");
    assert.equal(ledger.receive(result("a", "w3", 2)), "duplicate");
    assert.deepEqual(ledger.due(5000), { republish: [], lost: [] });
  });

  it("refuses a part id that is pending or ended recently, and a part beyond Max pending", function () {
    const ledger = new PartLedger(OPTIONS);
    for (const id of ["a", "b", "c"]) assert.equal(ledger.send(part(id), 0), "ok");
    assert.equal(ledger.send(part("a"), 0), "reused");
    assert.equal(ledger.send(part("d"), 0), "full");
    ledger.receive(result("a"));
    assert.equal(ledger.send(part("a"), 2), "reused", "its result could not be told from a copy of the first one");
    // Only `remember` ended ids are kept: the oldest is forgotten once more have ended.
    ledger.receive(result("b"));
    ledger.receive(result("c"));
    assert.equal(ledger.send(part("a"), 5), "ok");
    assert.equal(ledger.counts.pending, 1);
  });
});
