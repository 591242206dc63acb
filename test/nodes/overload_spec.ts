/**
 * Overload: bursts far beyond what a detector can process, into the detector's bounded queue
 * and through an image source that blocks. Every message must end processed (on the output) or
 * dropped (at Catch with queueFull), never both and never neither; the status counts the drops;
 * learning messages are never dropped. Bursts are sent in one synchronous loop, so which
 * messages get in follows from the queue size alone, not from timing.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { PreprocessOptions, Tensor } from "../../src/lib/image/types";
import { generateDefect, generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import preprocessNode from "../../src/nodes/preprocess";
import { TEACHING_QUEUE_SIZE } from "../../src/nodes/shared/queue";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import type { PreprocessNodeDef } from "../../src/nodes/preprocess-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  getNode,
  helper,
  onTab,
  sentMessages,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
const TRAIN = 4;
const BURST = 30;
const WAIT_MS = 20_000;

const translate = catalogTranslator("detector", "image-source", "preprocess");
const detector = withCatalog(detectorNode, translate);
const source = withCatalog(imageSourceNode, translate);
const preprocess = withCatalog(preprocessNode, translate);

const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: TENSOR_SIZE, height: TENSOR_SIZE });

interface QueueInfo {
  size: number;
  depth: number;
  dropped: number;
}

interface Sample {
  tensor: Tensor;
  preprocessing: PreprocessOptions;
}

const ids = (messages: readonly NodeMessage[]): string[] => messages.map((m) => m._msgid ?? "");
const topics = (messages: readonly NodeMessage[]): string[] => messages.map((m) => String(m.topic));
const burstTopics = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `part-${from + i}`);

describe("overload: bounded queues", function () {
  this.timeout(60_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let train: Sample[] = [];
  let part: Sample;
  let pngs: Buffer[] = [];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-overload-"));
    backbone = await writeTinyBackbone(dir);
    pngs = await Promise.all([1, 2, 3, 4].map((seed) => encodePng(generateGood(KIND, seed, SOURCE_SIZE))));
    train = await Promise.all(pngs.map(async (png) => ({ tensor: (await preprocessImage(png, OPTIONS, { maxPixels: 1e8 })).tensor, preprocessing: OPTIONS })));
    const png = await encodePng(generateDefect(KIND, "hole", 200, SOURCE_SIZE).image);
    part = { tensor: (await preprocessImage(png, OPTIONS, { maxPixels: 1e8 })).tensor, preprocessing: OPTIONS };
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  // Each test learns anew: the saved model of the previous one would be loaded otherwise.
  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  const detectorItem = (config: Partial<DetectorNodeDef>): FlowItem<DetectorNodeDef> =>
    ({ id: "det", type: "defect-detector", backbone, layers: "l1,l2", trainCount: String(TRAIN), wires: [["out"]], ...config }) as FlowItem<DetectorNodeDef>;

  async function loadDetector(config: Partial<DetectorNodeDef>): Promise<void> {
    await helper.load(detector, onTab([detectorItem(config), { id: "out", type: "helper" }, ...catchAll()]));
    await waitForStatus(getNode("det"), "defect-detector.status.untrained", WAIT_MS);
  }

  /** Learns the four good images in one burst; none may be dropped, whatever the queue size. */
  async function learnBurst(): Promise<NodeMessage[]> {
    const outs = collectMessages(getNode("out"), TRAIN, WAIT_MS);
    for (const s of train) getNode("det").receive({ payload: s.tensor, preprocessing: { ...s.preprocessing }, learn: true });
    return outs;
  }

  /**
   * Sends BURST inspections in one go and waits until each is on the output or at Catch;
   * resolves with both lists, so the test can check that they split the burst exactly.
   */
  async function inspectBurst(processed: number): Promise<{ out: NodeMessage[]; caught: NodeMessage[]; sent: string[] }> {
    const out = collectMessages(getNode("out"), processed, WAIT_MS);
    const caught = collectMessages(getNode("caught"), BURST - processed, WAIT_MS);
    const sent = burstTopics(1, BURST);
    for (const [i, topic] of sent.entries()) {
      getNode("det").receive({ _msgid: `m-${i + 1}`, topic, payload: part.tensor, preprocessing: { ...part.preprocessing } });
    }
    return { out: await out, caught: await caught, sent: sent.map((_, i) => `m-${i + 1}`) };
  }

  function assertDropped(caught: readonly NodeMessage[], size: number, policy: string): void {
    caught.forEach((msg, i) => {
      const error = caughtError(msg);
      assert.equal(error.code, "queueFull");
      assert.equal(error.message, `Error: Input queue full (${size} waiting, ${policy}): message dropped, ${i + 1} dropped so far`);
      assert.equal(error.source.id, "det");
    });
  }

  it("drop-newest: a burst of 30 into a queue of 3 processes the first 4 and drops 26, each accounted for once", async function () {
    await loadDetector({ queueSize: "3", overflow: "drop-newest" });
    await learnBurst();
    await waitForStatus(getNode("det"), "defect-detector.status.ready", WAIT_MS);
    const { out, caught, sent } = await inspectBurst(4);

    // The first is taken at once, three wait; the other 26 find the queue full.
    assert.deepEqual(topics(out), burstTopics(1, 4));
    assert.deepEqual(topics(caught), burstTopics(5, 30));
    assert.deepEqual([...ids(out), ...ids(caught)].sort(), [...sent].sort(), "every message once, processed or dropped");
    for (const msg of out) assert.equal(typeof (msg.payload as { score: number }).score, "number");
    // msg.queue as each was taken: nothing waited behind the first; the burst was over by the second.
    assert.deepEqual(
      out.map((m) => m["queue"] as QueueInfo),
      [
        { size: 3, depth: 0, dropped: 0 },
        { size: 3, depth: 2, dropped: 26 },
        { size: 3, depth: 1, dropped: 26 },
        { size: 3, depth: 0, dropped: 26 },
      ],
    );
    assertDropped(caught, 3, "drop-newest");
    const texts = statusTexts(getNode("det"));
    assert.equal(texts.at(-1), "ready · dropped 26");
    assert.equal(translate("defect-detector.status.ready"), "ready");
    assert.ok(!texts.includes("defect-detector.status.error"), "a full queue is load, not an error of the node");
  });

  it("drop-oldest: the freshest parts are inspected and the ones pushed out are reported", async function () {
    await loadDetector({ queueSize: "3", overflow: "drop-oldest" });
    await learnBurst();
    await waitForStatus(getNode("det"), "defect-detector.status.ready", WAIT_MS);
    const { out, caught, sent } = await inspectBurst(4);

    // Part 1 was already running; each later arrival pushed out the oldest waiting part.
    assert.deepEqual(topics(out), ["part-1", ...burstTopics(28, 30)]);
    assert.deepEqual(topics(caught), burstTopics(2, 27));
    assert.deepEqual([...ids(out), ...ids(caught)].sort(), [...sent].sort());
    assertDropped(caught, 3, "drop-oldest");
    assert.equal(statusTexts(getNode("det")).at(-1), "ready · dropped 26");
  });

  it("block: a wire cannot be held back, so the detector refuses what finds no room, as drop-newest does", async function () {
    await loadDetector({ queueSize: "3", overflow: "block" });
    await learnBurst();
    await waitForStatus(getNode("det"), "defect-detector.status.ready", WAIT_MS);
    const { out, caught } = await inspectBurst(4);
    assert.deepEqual(topics(out), burstTopics(1, 4));
    assert.deepEqual(topics(caught), burstTopics(5, 30));
    assertDropped(caught, 3, "block");
  });

  it("ends the inspections still waiting when the node stops, counting them in the log", async function () {
    await loadDetector({ queueSize: "8" });
    await learnBurst();
    await waitForStatus(getNode("det"), "defect-detector.status.ready", WAIT_MS);
    const logged: string[] = [];
    getNode("det").addListener("call:log", (call: { args: unknown[] }) => logged.push(String(call.args[0])));
    // One runs, four wait; the node is stopped (as a redeploy does) before any of them finishes.
    const node = getNode("det");
    for (let i = 0; i < 5; i++) node.receive({ payload: part.tensor, preprocessing: { ...part.preprocessing } });
    await (node as unknown as { close(removed: boolean): Promise<void> }).close(false);
    assert.ok(logged.includes("4 queued messages not processed: the node was stopped"), logged.join(" | "));
  });

  it("never drops learning messages: four learned in a burst into a queue of 1", async function () {
    await loadDetector({ queueSize: "1", overflow: "drop-newest" });
    const progress = await learnBurst();
    assert.deepEqual(
      progress.map((m) => (m.payload as { count: number }).count),
      [1, 2, 3, 4],
    );
    assert.equal((progress[3]!.payload as { model?: { trainedOn: number } }).model?.trainedOn, TRAIN);
    assert.ok(statusTexts(getNode("det")).every((text) => !text.includes("dropped")));
  });

  /** preprocess alone, its inspections' queue 3 waiting and refusing the next one. */
  async function loadPreprocessWithQueueOf3(): Promise<void> {
    await helper.load(
      preprocess,
      onTab([
        {
          id: "pre",
          type: "defect-preprocess",
          preset: "imagenet",
          width: String(TENSOR_SIZE),
          height: String(TENSOR_SIZE),
          queueSize: "3",
          overflow: "drop-newest",
          wires: [["out"]],
        } as FlowItem<PreprocessNodeDef>,
        { id: "out", type: "helper" },
        ...catchAll(),
      ]),
    );
  }

  it("teaching messages have a queue of their own: a burst of 40 learning images decodes 17 in order, refuses 23", async function () {
    await loadPreprocessWithQueueOf3();
    const learning = 40;
    const kept = TEACHING_QUEUE_SIZE + 1;
    const out = collectMessages(getNode("out"), kept + 4, WAIT_MS);
    const caught = collectMessages(getNode("caught"), learning - kept + BURST - 4, WAIT_MS);
    for (let i = 1; i <= learning; i++) getNode("pre").receive({ topic: `learn-${i}`, payload: pngs[i % pngs.length], learn: true });
    // Inspections sent during the teaching burst keep their own queue: 4 of 30 as without it.
    for (const topic of burstTopics(1, BURST)) getNode("pre").receive({ topic, payload: pngs[0] });
    const outs = await out;
    assert.deepEqual(
      topics(outs).filter((t) => t.startsWith("learn-")),
      Array.from({ length: kept }, (_, i) => `learn-${i + 1}`),
    );
    assert.deepEqual(
      topics(outs).filter((t) => t.startsWith("part-")),
      burstTopics(1, 4),
    );
    const refused = await caught;
    assert.deepEqual(
      topics(refused).filter((t) => t.startsWith("learn-")),
      Array.from({ length: learning - kept }, (_, i) => `learn-${kept + i + 1}`),
    );
    for (const msg of refused) assert.equal(caughtError(msg).code, "queueFull");
    assert.equal(statusTexts(getNode("pre")).at(-1), `ready · dropped ${learning - kept + BURST - 4}`);
  });

  it("rejects an invalid queue size at deploy", async function () {
    await helper.load(detector, onTab([detectorItem({ queueSize: "0" }), { id: "out", type: "helper" }, ...catchAll()]));
    const caught = collectMessages(getNode("caught"), 1, WAIT_MS);
    getNode("det").receive({ _msgid: "m-bad", payload: part.tensor });
    assert.equal(caughtError((await caught)[0]!).code, "invalidOption");
  });

  it("preprocess: a burst of 30 images into a queue of 3 decodes 4, drops 26; images marked for learning all go through", async function () {
    await loadPreprocessWithQueueOf3();
    const out = collectMessages(getNode("out"), 4 + pngs.length, WAIT_MS);
    const caught = collectMessages(getNode("caught"), BURST - 4, WAIT_MS);
    const topicsSent = burstTopics(1, BURST);
    for (const topic of topicsSent) getNode("pre").receive({ topic, payload: pngs[0] });
    // Sent while the inspections' queue is full: learning images have their own.
    for (const [i, png] of pngs.entries()) getNode("pre").receive({ topic: `learn-${i + 1}`, payload: png, learn: true });
    const outs = await out;
    assert.deepEqual(
      topics(outs).filter((t) => t.startsWith("part-")),
      burstTopics(1, 4),
    );
    assert.deepEqual(
      topics(outs)
        .filter((t) => t.startsWith("learn-"))
        .sort(),
      ["learn-1", "learn-2", "learn-3", "learn-4"],
    );
    assert.deepEqual(topics(await caught), burstTopics(5, 30));
    assert.equal(statusTexts(getNode("pre")).at(-1), "ready · dropped 26");
  });

  describe("image source -> preprocess -> detector", function () {
    const FILES = 12;
    /**
     * Large enough that the detector, not the source, is the slow stage (4096 patches an image
     * against a bank of 1638), as on a real line: only then can a source overrun it (without
     * block, 8 of the 12 files were dropped in a trial run).
     */
    const LINE_TENSOR = 256;
    let folder = "";

    before(async function () {
      folder = await mkdtemp(join(tmpdir(), "defect-overload-folder-"));
      for (let i = 0; i < FILES; i++) {
        await writeFile(join(folder, `part-${String(i + 1).padStart(2, "0")}.png`), pngs[i % pngs.length]!);
      }
    });

    after(async function () {
      await rm(folder, { recursive: true, force: true });
    });

    async function loadLine(
      sourceConfig: Partial<ImageSourceNodeDef>,
      detectorConfig: Partial<DetectorNodeDef>,
      preprocessConfig: Partial<PreprocessNodeDef> = {},
    ): Promise<void> {
      await helper.load(
        [source, preprocess, detector],
        onTab([
          { id: "src", type: "defect-image-source", mode: "folder", folder, stableMs: "50", wires: [["pre"]], ...sourceConfig } as FlowItem<ImageSourceNodeDef>,
          {
            id: "pre",
            type: "defect-preprocess",
            preset: "imagenet",
            width: String(LINE_TENSOR),
            height: String(LINE_TENSOR),
            wires: [["det"]],
            ...preprocessConfig,
          } as FlowItem<PreprocessNodeDef>,
          detectorItem(detectorConfig),
          { id: "out", type: "helper" },
          ...catchAll(),
        ]),
      );
      await waitForStatus(getNode("det"), "defect-detector.status.untrained", WAIT_MS);
      await waitForStatus(getNode("src"), "defect-image-source.status.watching", WAIT_MS);
      // Learned through the same preprocess node, so inspections match what was learned.
      const learned = collectMessages(getNode("out"), TRAIN, WAIT_MS);
      for (const png of pngs) getNode("pre").receive({ payload: png, learn: true });
      await learned;
      await waitForStatus(getNode("det"), "defect-detector.status.ready", WAIT_MS);
    }

    it("block: a folder of 12 files into a detector with room for 2 is inspected whole, nothing dropped", async function () {
      await loadLine({ queueSize: "2", overflow: "block" }, { queueSize: "1", overflow: "drop-newest" });
      const caught: NodeMessage[] = [];
      getNode("caught").on("input", (msg: NodeMessage) => caught.push(msg));
      // How many images the source had sent when the detector's k-th result arrived.
      const sentAtResult: number[] = [];
      getNode("out").on("input", () => sentAtResult.push(sentMessages(getNode("src")).length));
      const outs = collectMessages(getNode("out"), FILES, WAIT_MS);
      getNode("src").receive({ _msgid: "m-list" });
      const out = await outs.catch((error: unknown) => {
        throw new Error(`${String(error)}; caught: ${caught.map((m) => caughtError(m).message).join(" | ")}`);
      });
      assert.deepEqual(
        out.map((m) => m["filename"]),
        Array.from({ length: FILES }, (_, i) => join(folder, `part-${String(i + 1).padStart(2, "0")}.png`)),
      );
      // The source sends a file only while fewer than 2 of its images are unfinished by the
      // detector: by the k-th result at most k + 2 were sent, and the detector (one running,
      // one waiting) never lacks room.
      sentAtResult.forEach((sent, k) => assert.ok(sent <= k + 1 + 2, `${sent} sent by result ${k + 1}`));
      assert.deepEqual(
        out.map((m) => (m["queue"] as QueueInfo).dropped),
        new Array<number>(FILES).fill(0),
      );
      assert.deepEqual(caught, []);
      assert.ok(statusTexts(getNode("det")).every((text) => !text.includes("dropped")));
    });

    it("block: a source allowed 16 before a detector with room for 2 keeps 2 in transit, and nothing is dropped", async function () {
      await loadLine({ queueSize: "16", overflow: "block" }, { queueSize: "1", overflow: "drop-newest" });
      const caught: NodeMessage[] = [];
      getNode("caught").on("input", (msg: NodeMessage) => caught.push(msg));
      const sentAtResult: number[] = [];
      getNode("out").on("input", () => sentAtResult.push(sentMessages(getNode("src")).length));
      const outs = collectMessages(getNode("out"), FILES, WAIT_MS);
      getNode("src").receive({ _msgid: "m-list" });
      const out = await outs.catch((error: unknown) => {
        throw new Error(`${String(error)}; caught: ${caught.map((m) => caughtError(m).message).join(" | ")}`);
      });
      assert.equal(out.length, FILES);
      sentAtResult.forEach((sent, k) => assert.ok(sent <= k + 1 + 2, `${sent} sent by result ${k + 1}`));
      assert.deepEqual(caught, []);
    });

    it("block: an image preprocess refuses gives its place back at once, and the files after it are inspected", async function () {
      const mixed = await mkdtemp(join(tmpdir(), "defect-overload-mixed-"));
      after(() => rm(mixed, { recursive: true, force: true }));
      // 32 px: outside the 64 px region preprocess cuts from every image; the rest are 96 px.
      await writeFile(join(mixed, "part-01.png"), await encodePng(generateGood(KIND, 9, 32)));
      for (let i = 2; i <= 5; i++) await writeFile(join(mixed, `part-0${i}.png`), pngs[i % pngs.length]!);
      // One place in transit: had the refused image kept it, the next file would wait 60 s.
      await loadLine({ folder: mixed, queueSize: "1", overflow: "block" }, {}, { roi: "0,0,64,64" });
      const caught = collectMessages(getNode("caught"), 1, WAIT_MS);
      const outs = collectMessages(getNode("out"), 4, WAIT_MS);
      getNode("src").receive({ _msgid: "m-list" });
      const refused = (await caught)[0] as NodeMessage;
      assert.equal(caughtError(refused).source.id, "pre");
      assert.equal(refused["filename"], join(mixed, "part-01.png"));
      assert.deepEqual(
        (await outs).map((m) => m["filename"]),
        [2, 3, 4, 5].map((i) => join(mixed, `part-0${i}.png`)),
      );
    });

    it("block at the default sizes: 60 files landing at once in a watched folder are all inspected, none refused", async function () {
      this.timeout(120_000);
      const incoming = await mkdtemp(join(tmpdir(), "defect-overload-incoming-"));
      after(() => rm(incoming, { recursive: true, force: true }));
      await loadLine({ folder: incoming }, {});
      const caught: NodeMessage[] = [];
      getNode("caught").on("input", (msg: NodeMessage) => caught.push(msg));
      const count = 60;
      const outs = collectMessages(getNode("out"), count, 100_000);
      const names = Array.from({ length: count }, (_, i) => join(incoming, `part-${String(i + 1).padStart(2, "0")}.png`));
      await Promise.all(names.map((name, i) => writeFile(name, pngs[i % pngs.length]!)));
      const out = await outs.catch((error: unknown) => {
        throw new Error(`${String(error)}; caught: ${caught.map((m) => caughtError(m).message).join(" | ")}`);
      });
      assert.deepEqual(out.map((m) => m["filename"]).sort(), names);
      assert.deepEqual(caught, []);
    });

    it("block, watched folder: 12 files arriving at once wait on disk for the detector, all inspected", async function () {
      const incoming = await mkdtemp(join(tmpdir(), "defect-overload-incoming-"));
      after(() => rm(incoming, { recursive: true, force: true }));
      await loadLine({ folder: incoming, queueSize: "2", overflow: "block" }, { queueSize: "1", overflow: "drop-newest" });
      const caught: NodeMessage[] = [];
      getNode("caught").on("input", (msg: NodeMessage) => caught.push(msg));
      const outs = collectMessages(getNode("out"), FILES, WAIT_MS);
      const names = Array.from({ length: FILES }, (_, i) => join(incoming, `part-${String(i + 1).padStart(2, "0")}.png`));
      await Promise.all(names.map((name, i) => writeFile(name, pngs[i % pngs.length]!)));
      const out = await outs.catch((error: unknown) => {
        throw new Error(`${String(error)}; caught: ${caught.map((m) => caughtError(m).message).join(" | ")}`);
      });
      assert.deepEqual(out.map((m) => m["filename"]).sort(), names);
      assert.deepEqual(caught, []);
      assert.ok(statusTexts(getNode("src")).every((text) => !text.includes("dropped")));
    });

    it("drop-newest, watched folder: every file arriving at once is inspected or reported with its name", async function () {
      const incoming = await mkdtemp(join(tmpdir(), "defect-overload-incoming-"));
      after(() => rm(incoming, { recursive: true, force: true }));
      await loadLine({ folder: incoming, queueSize: "2", overflow: "drop-newest" }, { queueSize: "1", overflow: "drop-newest" });
      const outs: NodeMessage[] = [];
      const caught: NodeMessage[] = [];
      const settled = new Promise<void>((resolve) => {
        const check = (): void => {
          if (outs.length + caught.length === FILES) resolve();
        };
        getNode("out").on("input", (msg: NodeMessage) => (outs.push(msg), check()));
        getNode("caught").on("input", (msg: NodeMessage) => (caught.push(msg), check()));
      });
      const names = Array.from({ length: FILES }, (_, i) => join(incoming, `part-${String(i + 1).padStart(2, "0")}.png`));
      await Promise.all(names.map((name, i) => writeFile(name, pngs[i % pngs.length]!)));
      await settled;
      assert.deepEqual([...outs, ...caught].map((m) => m["filename"]).sort(), names);
      for (const msg of caught) assert.equal(caughtError(msg).code, "queueFull");
      const bySource = caught.filter((m) => caughtError(m).source.id === "src");
      for (const msg of bySource) {
        assert.equal(
          caughtError(msg).message,
          `Error: Input queue full (2 waiting, drop-newest): message or file dropped, ${bySource.indexOf(msg) + 1} dropped so far`,
        );
      }
      const last = statusTexts(getNode("src")).at(-1);
      assert.equal(last, bySource.length === 0 ? "defect-image-source.status.watching" : `watching · dropped ${bySource.length}`);
    });

    it("drop-newest at both: whatever the timing, every file is inspected or reported, and the counts agree", async function () {
      await loadLine({ queueSize: "2", overflow: "drop-newest" }, { queueSize: "1", overflow: "drop-newest" });
      const outs: NodeMessage[] = [];
      const caught: NodeMessage[] = [];
      const settled = new Promise<void>((resolve) => {
        const check = (): void => {
          if (outs.length + caught.length === FILES) resolve();
        };
        getNode("out").on("input", (msg: NodeMessage) => (outs.push(msg), check()));
        getNode("caught").on("input", (msg: NodeMessage) => (caught.push(msg), check()));
      });
      getNode("src").receive({ _msgid: "m-list" });
      await settled;
      const names = [...outs.map((m) => m["filename"]), ...caught.map((m) => m["filename"])].sort();
      assert.deepEqual(
        names,
        Array.from({ length: FILES }, (_, i) => join(folder, `part-${String(i + 1).padStart(2, "0")}.png`)),
      );
      for (const msg of caught) assert.equal(caughtError(msg).code, "queueFull");
      // Drops may happen at the source, preprocess or the detector; each node counts its own.
      const dropped = caught.filter((m) => caughtError(m).source.id === "det").length;
      const last = statusTexts(getNode("det")).at(-1);
      assert.equal(last, dropped === 0 ? "defect-detector.status.ready" : `ready · dropped ${dropped}`);
    });
  });
});
