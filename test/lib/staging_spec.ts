/**
 * A "built" job's large arrays go to the worker in blocks ahead of the load (staging.ts): the
 * worker must get every value back where it was, the sender must keep its arrays, small ones
 * travel with the job, and a job naming a block that never came must fail, not load half a bank.
 */
import { strict as assert } from "node:assert";
import { STAGE_BLOCK_BYTES, STAGE_MIN_BYTES, StagingArea, stageJob, type StageBlock } from "../../src/lib/onnx/staging";

function ramp(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => i * 0.5 - 7);
}

describe("staging a built job's large arrays", () => {
  it("sends large arrays in blocks, one at a time, and the worker's job holds the same values", async () => {
    const big = ramp((STAGE_MIN_BYTES * 2.5) / 4);
    const ids = Int32Array.from({ length: STAGE_MIN_BYTES / 4 + 3 }, (_, i) => i - 5);
    const small = ramp(100);
    const job = { kind: "scoring", spec: { layers: [{ name: "a", bank: big }], ids, small, size: 3 } };
    const area = new StagingArea();
    const blocks: StageBlock[] = [];
    let inFlight = 0;
    const staged = await stageJob(job, async (block, transfer) => {
      inFlight += 1;
      assert.equal(inFlight, 1, "the next block waits for this one's answer");
      assert.deepEqual(transfer, [block.data.buffer], "each block's own copy is handed over");
      assert.ok(block.data.byteLength <= STAGE_BLOCK_BYTES);
      blocks.push(block);
      area.put(block);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
    });
    assert.equal(blocks.length, Math.ceil(big.byteLength / STAGE_BLOCK_BYTES) + Math.ceil(ids.byteLength / STAGE_BLOCK_BYTES));
    const sent = JSON.stringify(staged);
    assert.ok(sent.length < 10_000, "the job itself carries placeholders for the large arrays");
    const resolved = area.resolve(staged) as typeof job;
    assert.deepEqual(resolved.spec.layers[0]?.bank, big);
    assert.ok(resolved.spec.ids instanceof Int32Array);
    assert.deepEqual(resolved.spec.ids, ids);
    assert.equal(resolved.spec.small, small, "a small array travels with the job");
    assert.equal(resolved.kind, "scoring");
    assert.equal(big.length, (STAGE_MIN_BYTES * 2.5) / 4, "the sender keeps its array");
    assert.equal(area.size, 0, "resolved arrays leave the staging area");
  });

  it("refuses a job whose array did not arrive whole", async () => {
    const area = new StagingArea();
    let first = true;
    const staged = await stageJob({ bank: ramp(STAGE_MIN_BYTES / 2) }, async (block) => {
      if (first) area.put(block);
      first = false;
    });
    assert.throws(() => area.resolve(staged), /did not arrive whole/);
    assert.throws(() => new StagingArea().resolve(staged), /did not arrive whole/);
  });
});
