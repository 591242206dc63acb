/**
 * The line's event-loop probe: a block while it records is a delay, time while it is paused
 * (the plain backbone runs on the line's own thread in between) is not.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { LoopDelay } from "../../src/offline/line/probes";

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: the event loop cannot run
  }
}

describe("line event-loop probe", function () {
  it("records a block while recording and nothing of the time it was paused", async function () {
    const loop = new LoopDelay();
    loop.resume();
    await sleep(150);
    block(40);
    await sleep(150);
    loop.pause();
    block(150);
    loop.resume();
    await sleep(30);
    const { p99, max } = loop.summary();
    assert.ok(max !== null && max >= 38 && max < 120, `max ${max} ms: the 40 ms block, not the 150 ms pause`);
    assert.ok(p99 !== null && p99 < 38, `p99 ${p99} ms: one long sample among many short ones`);
  });

  it("reports nothing when nothing was recorded", function () {
    assert.deepEqual(new LoopDelay().summary(), { p99: null, max: null });
  });
});
