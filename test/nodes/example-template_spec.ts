/**
 * Example 08 (template comparison) as a user would run it: its image sources, preprocess,
 * detector, threshold, mask to region and verdict function loaded from the example file, the
 * package's synthetic printed labels in the user directory where `npm start` puts them (with
 * the line of labels the demo composes). The buttons are replaced by messages to the sources
 * and the debug node by a helper.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import preprocessNode from "../../src/nodes/preprocess";
import thresholdNode from "../../src/nodes/threshold";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { nodeNamed, writeExampleLine } from "../fixtures/example-line";
import { collectMessages, getNode, helper, loadCoreNode, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const EXAMPLE = join(process.cwd(), "examples", "08 - Template comparison of printed parts.json");
const WAIT_MS = 60_000;
/** Good and defective labels on the line: the first two test images of each folder. */
const PER_FOLDER = 2;

type ExampleNode = FlowItem & { name?: string; folder?: string; method?: string; trainCount?: string; mode?: string };
interface Shown {
  learning?: string;
  fitted?: boolean;
  file?: string;
  label?: string;
  verdict?: string;
  score?: number;
  reference?: string | null;
  regions?: string[];
}

describe("example 08 - Template comparison of printed parts", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  const flow = JSON.parse(readFileSync(EXAMPLE, "utf8")) as ExampleNode[];
  const byName = (name: string): ExampleNode => nodeNamed(flow, name, "08");

  /** The demo's printed labels, and the line the demo composes of their test images. */
  const writeDemoImages = (): Promise<number> => writeExampleLine(userDir(), { kind: "printed-pattern", count: 4, line: "print-line", perFolder: PER_FOLDER });

  after(async function () {
    await rm(join(userDir(), "defect-demo"), { recursive: true, force: true });
  });

  it("learns three reference labels, then calls every defective label NG with a region and every good one OK without", async function () {
    const detector = flow.find((n) => n.type === "defect-detector");
    assert.deepEqual([detector?.method, detector?.trainCount], ["template", "3"]);
    assert.equal(flow.find((n) => n.type === "defect-threshold")?.mode, "fixed");
    const parts = await writeDemoImages();
    const kept = flow
      .filter((n) => !["tab", "comment", "inject", "catch"].includes(n.type) && n.name !== "error")
      .map((n) => (n.type === "debug" ? { id: n.id, type: "helper" } : n));
    const fn = await loadCoreNode("function/10-function.js");
    const detectorWithCatalog = withCatalog(detectorNode, catalogTranslator("detector"));
    await helper.load([imageSourceNode, preprocessNode, detectorWithCatalog, thresholdNode, maskToRegionNode, fn], onTab(kept));
    const result = getNode(byName("result").id);

    const learned = collectMessages(result, 3, WAIT_MS);
    getNode(byName("three reference labels").id).receive({ learn: true });
    // Made in the function node's sandbox: compared as plain JSON.
    const progress = JSON.parse(JSON.stringify((await learned).map((m) => m.payload))) as Shown[];
    assert.deepEqual(progress, [
      { learning: "1/3", fitted: false },
      { learning: "2/3", fitted: false },
      { learning: "3/3", fitted: true },
    ]);

    const inspected = collectMessages(result, parts, WAIT_MS);
    getNode(byName("printed labels on the line").id).receive({ payload: "go" });
    const shown = JSON.parse(JSON.stringify((await inspected).map((m: NodeMessage) => m.payload))) as Shown[];
    const good = shown.filter((s) => s.label === "good");
    const bad = shown.filter((s) => s.label !== "good");
    assert.equal(good.length, PER_FOLDER);
    assert.ok(bad.length >= 4 * PER_FOLDER, JSON.stringify(shown));
    for (const s of good) assert.deepEqual([s.verdict, s.regions], ["OK", []], JSON.stringify(s));
    for (const s of bad) assert.ok(s.verdict === "NG" && (s.regions?.length ?? 0) >= 1, JSON.stringify(s));
    for (const s of shown) assert.match(s.reference ?? "", /^00[0-2]\.png$/, "each label names the reference it was compared with");
  });
});
