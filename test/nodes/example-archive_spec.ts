/**
 * Example 09 (archive NG parts and retrain) as a user would run it: its nodes loaded from the
 * example file with the package's synthetic parts where `npm start` puts them. The buttons are
 * replaced by messages to the nodes they feed and the debug node by a helper. The line is
 * inspected into the archive, a part is confirmed, and the detector retrains from the archive's
 * train/good folder.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import archiveNode from "../../src/nodes/archive";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import preprocessNode from "../../src/nodes/preprocess";
import thresholdNode from "../../src/nodes/threshold";
import { readMvtecDataset } from "../../src/offline/eval/mvtec-dataset";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { nodeNamed, writeExampleLine } from "../fixtures/example-line";
import { collectMessages, delay, getNode, helper, loadCoreNode, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const EXAMPLE = join(process.cwd(), "examples", "09 - Archive NG parts and retrain.json");
const WAIT_MS = 120_000;
const POLL_MS = 50;

type ExampleNode = FlowItem & { name?: string; folder?: string; okEvery?: string };

async function imagesIn(folder: string): Promise<string[]> {
  return (await readdir(folder).catch(() => [])).filter((n) => !n.startsWith(".")).sort();
}

describe("example 09 - Archive NG parts and retrain", function () {
  this.timeout(300_000);
  const userDir = useNodeRedHelper();
  const flow = JSON.parse(readFileSync(EXAMPLE, "utf8")) as ExampleNode[];
  const byName = (name: string): ExampleNode => nodeNamed(flow, name, "09");

  after(async function () {
    await rm(join(userDir(), "defect-demo"), { recursive: true, force: true });
    await rm(join(userDir(), "defect-archive"), { recursive: true, force: true });
  });

  it("archives the line's NG parts and sampled OK parts, files a confirmed part, and retrains the detector from the archive", async function () {
    const parts = await writeExampleLine(userDir(), { kind: "cast-surface", count: 20, line: "line", perFolder: 2 });
    const kept = flow
      .filter((n) => !["tab", "comment", "inject", "catch"].includes(n.type) && n.name !== "error")
      .map((n) => (n.type === "debug" ? { id: n.id, type: "helper" } : n));
    const [fn, sw] = await Promise.all([loadCoreNode("function/10-function.js"), loadCoreNode("function/10-switch.js")]);
    await helper.load(
      [
        imageSourceNode,
        preprocessNode,
        withCatalog(detectorNode, catalogTranslator("detector")),
        thresholdNode,
        maskToRegionNode,
        withCatalog(archiveNode, catalogTranslator("archive")),
        fn,
        sw,
      ],
      onTab(kept),
    );
    const result = getNode(byName("result").id);
    const archive = join(userDir(), byName("NG archive").folder!);

    // At deploy: the detector learns its training folder; the threshold calibrates from the fit.
    const calibrated = await nextMessage(result, WAIT_MS);
    assert.equal((calibrated.payload as { calibrating?: boolean }).calibrating, true, JSON.stringify(calibrated.payload));

    const inspected = collectMessages(result, parts, WAIT_MS);
    getNode(byName("production line").id).receive({ payload: "go" });
    const verdicts = (await inspected).map((m: NodeMessage) => ({
      file: String(m["partId"]),
      verdict: (m["result"] as { verdict: string }).verdict,
    }));
    const ng = verdicts.filter((v) => v.verdict === "NG").map((v) => v.file);
    const ok = verdicts.filter((v) => v.verdict === "OK").map((v) => v.file);
    assert.ok(ng.length >= 4, JSON.stringify(verdicts));
    // Keep OK 2: the first OK part, the third...
    const sampled = ok.filter((_f, i) => i % 2 === 0);
    const stems = (names: string[]): string[] => names.map((n) => n.replace(/^\d{8}-\d{6}-\d{3}_\d+_/, ""));
    for (let waited = 0; waited < WAIT_MS && (await imagesIn(join(archive, "test", "ng"))).length < ng.length; waited += POLL_MS) await delay(POLL_MS);
    // Part ids are file names ("part-003-good.png"); in archive names the dot becomes a dash.
    const key = (file: string): string => file.replace(/[^A-Za-z0-9-]+/g, "-") + ".png";
    assert.deepEqual(stems(await imagesIn(join(archive, "test", "ng"))).sort(), ng.map(key).sort());
    assert.deepEqual(stems(await imagesIn(join(archive, "train", "good"))).sort(), sampled.map(key).sort());
    assert.equal((await imagesIn(join(archive, "records", "test", "ng"))).length, 2 * ng.length, "a record and an overlay per NG part");

    // The operator confirms the last inspected part as good: it is filed under train/good.
    const last = verdicts[verdicts.length - 1]!;
    const answer = nextMessage(result, WAIT_MS);
    getNode(byName("confirm the last part").id).receive({ payload: "good" });
    assert.equal(((await answer).payload as { confirmed?: string }).confirmed, "good");
    let good: string[] = [];
    for (let waited = 0; waited < WAIT_MS; waited += POLL_MS) {
      good = stems(await imagesIn(join(archive, "train", "good")));
      if (good.includes(key(last.file))) break;
      await delay(POLL_MS);
    }
    assert.ok(good.includes(key(last.file)), `${last.file} filed as good: ${good.join(", ")}`);
    const dataset = readMvtecDataset(archive);
    assert.equal(dataset.train.length, good.length);

    // Retrain: the archive's good parts are learned, then fitted at once.
    const learned = collectMessages(result, good.length, WAIT_MS);
    getNode(byName("archive's good parts").id).receive({ learn: true });
    const progress = (await learned).map((m) => m.payload as { learning?: boolean; count?: number });
    assert.deepEqual(
      progress.map((p) => [p.learning, p.count]),
      good.map((_g, i) => [true, i + 1]),
    );
    const fit = nextMessage(result, WAIT_MS);
    getNode(flow.find((n) => n.type === "defect-detector")!.id).receive({ command: "fit" });
    const model = ((await fit).payload as { command?: string; model?: { trainedOn?: number } }).model;
    assert.equal(model?.trainedOn, good.length, JSON.stringify((await fit).payload));
  });
});
