/**
 * The bounded input queue and the transit limiter: order, one item at a time, each drop policy
 * under a burst (every item run or dropped exactly once), closing, waiting for room, options.
 * Work is driven by hand-resolved promises, so nothing depends on timing.
 */
import assert from "node:assert/strict";
import { InputQueue, parseQueueOptions, TransitLimiter, type DropReason, type OverflowPolicy } from "../../src/lib/queue";

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A queue whose items each wait for their own gate; records what ran and what was dropped. */
function harness(size: number, policy: OverflowPolicy) {
  const gates = new Map<number, Gate>();
  const started: number[] = [];
  const finished: number[] = [];
  const dropped: Array<[number, DropReason]> = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const queue = new InputQueue<number>(
    { size, policy },
    {
      async run(item) {
        started.push(item);
        concurrent += 1;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        const g = gate();
        gates.set(item, g);
        await g.promise;
        concurrent -= 1;
        finished.push(item);
      },
      drop: (item, reason) => dropped.push([item, reason]),
    },
  );
  /** Lets the running item finish and waits until the queue has moved on. */
  const finishRunning = async (): Promise<void> => {
    const running = started[started.length - 1]!;
    gates.get(running)!.open();
    await new Promise((resolve) => setImmediate(resolve));
  };
  const drain = async (): Promise<void> => {
    while (queue.stats.running) await finishRunning();
  };
  return { queue, started, finished, dropped, drain, finishRunning, maxConcurrent: () => maxConcurrent };
}

const burst = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe("InputQueue", function () {
  it("runs items one at a time in arrival order", async function () {
    const h = harness(8, "drop-newest");
    for (const i of burst(5)) assert.equal(h.queue.push(i), true);
    assert.deepEqual(h.queue.stats, { size: 8, depth: 4, running: true, processed: 0, dropped: 0 });
    await h.drain();
    assert.deepEqual(h.finished, [1, 2, 3, 4, 5]);
    assert.equal(h.maxConcurrent(), 1);
    assert.deepEqual(h.queue.stats, { size: 8, depth: 0, running: false, processed: 5, dropped: 0 });
  });

  it("drop-newest: a burst of 10x the room keeps the first, drops the rest, each once", async function () {
    const h = harness(3, "drop-newest");
    // Item 1 runs at once, 2..4 wait; 5..40 find no room.
    const accepted = burst(40).map((i) => h.queue.push(i));
    assert.deepEqual(
      accepted,
      burst(40).map((i) => i <= 4),
    );
    assert.deepEqual(
      h.dropped,
      burst(40)
        .filter((i) => i > 4)
        .map((i) => [i, "overflow"]),
    );
    assert.equal(h.queue.stats.dropped, 36);
    assert.equal(h.queue.stats.depth, 3, "never more than size waiting");
    await h.drain();
    assert.deepEqual(h.finished, [1, 2, 3, 4]);
    assert.equal(h.finished.length + h.dropped.length, 40);
  });

  it("drop-oldest: the freshest items are kept", async function () {
    const h = harness(3, "drop-oldest");
    const accepted = burst(40).map((i) => h.queue.push(i));
    assert.ok(accepted.every(Boolean), "the pushed item itself always gets in");
    // Item 1 was already running; 2..37 were pushed out in turn by newer ones.
    assert.deepEqual(
      h.dropped,
      burst(37)
        .slice(1)
        .map((i) => [i, "overflow"]),
    );
    await h.drain();
    assert.deepEqual(h.finished, [1, 38, 39, 40]);
    assert.equal(h.queue.stats.dropped, 36);
    assert.equal(h.finished.length + h.dropped.length, 40);
  });

  it("block: push refuses like drop-newest; whenRoom lets a waiting producer lose nothing", async function () {
    const h = harness(2, "block");
    for (const i of burst(3)) h.queue.push(i);
    assert.equal(h.queue.push(4), false, "a producer that cannot wait is refused");
    assert.deepEqual(h.dropped, [[4, "overflow"]]);

    let next = 5;
    const producer = (async () => {
      while (next <= 12) {
        while (!h.queue.hasRoom()) await h.queue.whenRoom();
        assert.equal(h.queue.push(next), true);
        next += 1;
      }
    })();
    while (next <= 12 || h.queue.stats.running) await h.finishRunning();
    await producer;
    assert.deepEqual(h.finished, [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(h.queue.stats.dropped, 1);
  });

  it("close drops what waits, lets the running item finish, refuses later pushes", async function () {
    const h = harness(4, "drop-newest");
    for (const i of burst(3)) h.queue.push(i);
    h.queue.close();
    assert.deepEqual(h.dropped, [
      [2, "closed"],
      [3, "closed"],
    ]);
    assert.equal(h.queue.push(9), false);
    assert.deepEqual(h.dropped.at(-1), [9, "closed"]);
    const idle = h.queue.whenIdle();
    await h.finishRunning();
    await idle;
    assert.deepEqual(h.finished, [1]);
    assert.equal(h.queue.stats.dropped, 0, "closing is not an overflow");
  });

  it("goes on after an item whose work rejects", async function () {
    const ran: number[] = [];
    const queue = new InputQueue<number>(
      { size: 4, policy: "drop-newest" },
      {
        run: async (item) => {
          ran.push(item);
          if (item === 1) throw new Error("bad item");
        },
        drop: () => assert.fail("nothing should be dropped"),
      },
    );
    queue.push(1);
    queue.push(2);
    await queue.whenIdle();
    assert.deepEqual(ran, [1, 2]);
    assert.equal(queue.stats.processed, 2);
  });

  it("reads the editor fields, with defaults and clear refusals", function () {
    assert.deepEqual(parseQueueOptions({}), { size: 8, policy: "drop-oldest" });
    assert.deepEqual(parseQueueOptions({ queueSize: "", overflow: "" }, { size: 16, policy: "block" }), { size: 16, policy: "block" });
    assert.deepEqual(parseQueueOptions({ queueSize: "3", overflow: "drop-newest" }), { size: 3, policy: "drop-newest" });
    assert.throws(() => parseQueueOptions({ queueSize: "0" }), /queueSize must be an integer from 1 to 10000, got "0"/);
    assert.throws(() => parseQueueOptions({ overflow: "drop-all" }), /overflow must be one of drop-oldest, drop-newest, block/);
  });
});

describe("TransitLimiter", function () {
  it("waits while capacity items are in transit and goes on when one settles", async function () {
    const released: string[] = [];
    const limiter = new TransitLimiter(2, 60_000, (id) => released.push(id));
    limiter.add("a");
    limiter.add("b");
    let through = false;
    const waiting = limiter.whenRoom().then(() => (through = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(through, false, "no room while two are in transit");
    assert.equal(limiter.settle("unknown"), false);
    assert.equal(limiter.settle("a"), true);
    await waiting;
    assert.equal(limiter.count, 1);
    assert.deepEqual(released, ["a"]);
  });

  it("gives back the place of an item never settled once it is older than expireMs", async function () {
    let now = 1000;
    const released: string[] = [];
    const limiter = new TransitLimiter(
      1,
      50,
      (id) => released.push(id),
      () => now,
    );
    limiter.add("lost");
    now = 1050;
    await limiter.whenRoom();
    assert.equal(limiter.count, 0);
    assert.equal(limiter.expired, 1);
    assert.deepEqual(released, ["lost"]);
  });

  it("stops waiting when its signal aborts", async function () {
    const limiter = new TransitLimiter(1, 60_000);
    limiter.add("a");
    const stop = new AbortController();
    const waiting = limiter.whenRoom(stop.signal);
    stop.abort();
    await waiting;
    assert.equal(limiter.count, 1);
  });
});
