/**
 * defect-archive in Node-RED: every message is passed on unchanged; NG parts are archived with
 * their record and overlay, OK parts sampled, confirmed parts filed under their label; bad
 * configuration and bad messages reach Catch with a clear text, an unwritable folder too (red
 * status), and the message still travels on. Texts go through the node's real en-US catalog.
 */
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeAPI, NodeMessage } from "node-red";
import archiveNode from "../../src/nodes/archive";
import type { ArchiveNodeDef } from "../../src/nodes/archive-def";
import { catalogTranslator } from "../fixtures/catalog";
import { encodePng, makeImage } from "../fixtures/images";
import {
  caughtError,
  caughtFor,
  catalogKeys,
  delay,
  editorDefaultKeys,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusCalls,
  useNodeRedHelper,
  waitForStatus,
  WAIT_MS,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-archive";
const translate = catalogTranslator("archive");
/** How often the bounded waits below look at the folder. */
const POLL_MS = 20;

function node(RED: NodeAPI): void {
  (RED as unknown as { _: typeof translate })._ = translate;
  archiveNode(RED);
}

/** The files of `dir` once there are `count` (a bounded wait: the node writes after passing the message on). */
async function filesOnceThere(dir: string, count: number): Promise<string[]> {
  let names: string[] = [];
  for (let waited = 0; waited <= WAIT_MS; waited += POLL_MS) {
    names = (await readdir(dir).catch(() => [])).filter((n) => !n.startsWith(".")).sort();
    if (names.length >= count) return names;
    await delay(POLL_MS);
  }
  throw new Error(`${dir} holds ${names.length} of ${count} files: ${names.join(", ")}`);
}

describe("defect-archive node", function () {
  const userDir = useNodeRedHelper();
  let image: Buffer;
  let overlay: Buffer;
  let folderNumber = 0;
  let folder: string;

  before(async function () {
    image = await encodePng(makeImage(32, 24, 3, (x, y, c) => (x * 7 + y * 5 + c * 50) % 256));
    overlay = await encodePng(makeImage(16, 12, 3, () => 200));
  });

  beforeEach(function () {
    folder = `archive-${++folderNumber}`;
  });

  async function load(config: Partial<ArchiveNodeDef> = {}): Promise<void> {
    const item: FlowItem<ArchiveNodeDef> = { id: "archive", type: TYPE, wires: [["out"]], folder, ...config } as FlowItem<ArchiveNodeDef>;
    await helper.load(
      node,
      onTab([
        item,
        { id: "out", type: "helper" },
        { id: "catcher", type: "catch", scope: null, uncaught: false, wires: [["caught"]] } as FlowItem,
        { id: "caught", type: "helper" },
      ]),
    );
  }

  function verdict(v: "OK" | "NG" | "UNCERTAIN", id: number, extra: Record<string, unknown> = {}): NodeMessage {
    const partId = `P-${id}`;
    return {
      payload: { verdict: v, score: id, threshold: 0.5 },
      image: { buffer: image, format: "png", width: 32, height: 24 },
      result: { id, station: "s1", partId, jobId: null, recipe: null, verdict: v, score: id, regions: [] },
      ...extra,
    };
  }

  const at = (...parts: string[]): string => join(userDir(), folder, ...parts);

  it("keeps the editor's fields and the catalog in step", function () {
    const keys: EditorKeys<ArchiveNodeDef> = {
      name: true,
      folder: true,
      okEvery: true,
      maxCount: true,
      maxMb: true,
      maxDays: true,
      minFreeMb: true,
      rememberParts: true,
    };
    assert.deepEqual(editorDefaultKeys("archive").sort(), Object.keys(keys).sort());
    assert.ok(catalogKeys("archive").has(`${TYPE}.status.counts`));
  });

  it("passes an NG part on unchanged and archives its image, record and overlay", async function () {
    await load();
    const out = nextMessage(getNode("out"));
    const msg = verdict("NG", 7, { overlay });
    getNode("archive").receive(msg);
    const passed = await out;
    assert.deepEqual(passed.payload, { verdict: "NG", score: 7, threshold: 0.5 });
    assert.deepEqual((passed["result"] as Record<string, unknown>)["id"], 7);
    assert.ok((passed["overlay"] as Buffer).equals(overlay));

    const [name] = await filesOnceThere(at("test", "ng"), 1);
    assert.match(name!, /^\d{8}-\d{6}-\d{3}_7_P-7\.png$/);
    assert.ok((await readFile(at("test", "ng", name!))).equals(image));
    const stem = name!.slice(0, -".png".length);
    const records = await filesOnceThere(at("records", "test", "ng"), 2);
    assert.deepEqual(records, [`${stem}.json`, `${stem}_overlay.png`]);
    const record = JSON.parse(await readFile(at("records", "test", "ng", `${stem}.json`), "utf8")) as Record<string, unknown>;
    assert.deepEqual(record["result"], { id: 7, station: "s1", partId: "P-7", jobId: null, recipe: null, verdict: "NG", score: 7, regions: [] });
    assert.equal(record["verdict"], "NG");
    // The status counts what the archive holds.
    await waitForStatus(getNode("archive"), "1 archived · 0.0 MB");
  });

  it("samples OK parts (1 in N) into train/good and passes every one on", async function () {
    await load({ okEvery: "2" });
    const outs = getNode("out");
    for (let id = 1; id <= 5; id++) {
      const passed = nextMessage(outs);
      getNode("archive").receive(verdict("OK", id));
      assert.equal(((await passed)["result"] as Record<string, unknown>)["id"], id);
    }
    const names = await filesOnceThere(at("train", "good"), 3);
    assert.deepEqual(
      names.map((n) => n.split("_")[1]),
      ["1", "3", "5"],
    );
    await delay(POLL_MS * 5);
    assert.equal((await readdir(at("train", "good"))).length, 3, "the parts between the samples are not archived");
  });

  it("files confirmed parts: an NG part confirmed good moves to train/good, a remembered OK part confirmed defect (detector's answer) to test/defect, a carried image with a mask gets its ground truth", async function () {
    await load({ okEvery: "0" });
    const arch = getNode("archive");
    arch.receive(verdict("NG", 1));
    await filesOnceThere(at("test", "ng"), 1);
    arch.receive({ confirm: "good", partId: "P-1" });
    const [good] = await filesOnceThere(at("train", "good"), 1);
    assert.match(good!, /_1_P-1\.png$/);
    assert.deepEqual(await readdir(at("test", "ng")), []);

    arch.receive(verdict("OK", 2));
    // After the detector the confirmation arrives as its answer (msg.confirm removed).
    arch.receive({ partId: "P-2", payload: { confirmed: "defect", partId: "P-2", bank: { good: 10, defect: 2, labelled: 0, pending: 0 }, version: 2 } });
    const [defect] = await filesOnceThere(at("test", "defect"), 1);
    assert.match(defect!, /_2_P-2\.png$/);
    // Through a threshold that calibrated again from the answer's scores: the answer rides in msg.detection.
    arch.receive(verdict("OK", 4));
    const answer = {
      confirmed: "defect",
      partId: "P-4",
      bank: { good: 10, defect: 0, labelled: 1, pending: 0 },
      version: 3,
      calibration: { kind: "leave-one-out", scores: [1, 2] },
    };
    arch.receive({ partId: "P-4", payload: { calibrating: true, count: 2, total: 2, label: "good", handover: "leave-one-out" }, detection: answer });
    assert.equal((await filesOnceThere(at("test", "defect"), 2)).filter((f) => /_4_P-4\.png$/.test(f)).length, 1);

    const mask = new Uint8Array(32 * 24);
    mask[5 * 32 + 6] = 1;
    arch.receive({ confirm: { verdict: "defect", mask: { data: Array.from(mask), width: 32, height: 24 } }, partId: "P-3", image: { buffer: image } });
    const [masked] = await filesOnceThere(at("ground_truth", "defect"), 1);
    assert.match(masked!, /_0_P-3_mask\.png$/);
    assert.equal((await filesOnceThere(at("test", "defect"), 3)).length, 3);
  });

  it("passes on learning, calibration and command answers without archiving them", async function () {
    await load();
    const out = nextMessage(getNode("out"));
    getNode("archive").receive({ payload: { learning: true, count: 3, total: 50 }, image: { buffer: image } });
    assert.deepEqual((await out).payload, { learning: true, count: 3, total: 50 });
    await delay(POLL_MS * 5);
    // Only the empty train/good made at deploy.
    assert.deepEqual(await readdir(at(), { recursive: true }), ["train", join("train", "good")]);
  });

  it("refuses a bad configuration with a clear error", async function () {
    await load({ maxMb: "0" });
    const caught = nextMessage(getNode("caught"));
    getNode("archive").receive(verdict("NG", 1));
    const error = caughtError(await caught);
    assert.equal(error.code, "invalidOption");
    assert.equal(error.message, 'Error: Option maxMb must be a number above 0 and at most 10000000, got "0"');
    assert.equal(statusCalls(getNode("archive")).at(-1)?.fill, "red");
  });

  it("passes on a message it cannot archive and says why at Catch: no record, no image, a bad confirmation", async function () {
    await load();
    const out = getNode("out");
    const caught = getNode("caught");
    let passed = nextMessage(out);
    let error = nextMessage(caught);
    getNode("archive").receive({ payload: 0.7, image: { buffer: image } });
    assert.equal((await passed).payload, 0.7);
    assert.equal(caughtError(await error).code, "noVerdictInput");
    assert.match(caughtError(await error).message, /wire the archive after a threshold node/);

    passed = nextMessage(out);
    error = nextMessage(caught);
    getNode("archive").receive({ ...verdict("NG", 2), image: undefined });
    assert.equal(((await passed)["result"] as Record<string, unknown>)["id"], 2);
    assert.equal(caughtError(await error).code, "noImageInput");

    passed = nextMessage(out);
    error = nextMessage(caught);
    getNode("archive").receive({ confirm: "maybe", partId: "P-1" });
    assert.equal((await passed)["confirm"], "maybe");
    assert.equal(caughtError(await error).code, "invalidOption");
    assert.match(caughtError(await error).message, /msg\.confirm must be "good" or "defect"/);
  });

  it("reports an unwritable folder with node.error(err, msg) and a red status, and still passes the message on", async function () {
    await writeFile(join(userDir(), "not-a-folder"), "x");
    await load({ folder: "not-a-folder/archive" });
    const passed = nextMessage(getNode("out"));
    // The folder's failure at deploy reaches Catch once by itself; this waits for the message's own.
    const msg = { ...verdict("NG", 1), _msgid: "unwritable-1" };
    const got = await caughtFor("unwritable-1", () => getNode("archive").receive(msg));
    assert.equal(((await passed)["result"] as Record<string, unknown>)["id"], 1);
    const error = caughtError(got);
    assert.equal(error.code, "fileWriteFailed");
    assert.match(error.message, /^Error: Archive write failed: Could not write .*not-a-folder/);
    assert.equal((got["result"] as Record<string, unknown>)["id"], 1, "Catch gets the message");
    assert.equal(statusCalls(getNode("archive")).at(-1)?.fill, "red");
  });
});
