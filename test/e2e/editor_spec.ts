/**
 * The editor experience in a real browser: Debian's Chromium driven by playwright-core against
 * Node-RED on 127.0.0.1 with this package (and FlowFuse Dashboard 2.0) loaded. What a plant
 * engineer does: finds the nodes in the palette, drags each into a flow and opens its dialog
 * and help, imports the dashboard example through Menu > Import > Examples, deploys it, presses
 * the inject button, reads the verdict in the debug sidebar, watches the dashboard page, confirms
 * a part good there, and sees the overlay preview in the mask-to-region dialog. Screenshots go to
 * test-output/screenshots/ on each run. Skipped, saying why, where /usr/bin/chromium is missing
 * (`.ci/run` installs it).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { CHROMIUM, launchChromium, startEditorServer, type EditorServer } from "../fixtures/editor-server";

const root = process.cwd();
const SHOTS = join(root, "test-output", "screenshots");
const EXAMPLE = "06 - Dashboard with heat map and confirm buttons";
const CATEGORY = "#red-ui-palette-base-category-defect_detection";
/** UI steps (a dialog opening, a sidebar filling) on a loaded 2-core machine. */
const UI_MS = 15_000;
/** Learning 20 parts at deploy, calibrating on 5, then the first inspection. */
const PIPELINE_MS = 120_000;
/** The production line writeDemoParts makes: part-001-good, part-002-scratch, part-003-good, part-004-hole. */
const LINE_PARTS = 4;
/** What the learned demo line decides for each part. */
const LINE_VERDICTS = [
  ["part-001-good.png", "OK"],
  ["part-002-scratch.png", "NG"],
  ["part-003-good.png", "OK"],
  ["part-004-hole.png", "NG"],
] as const;

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { "node-red": { nodes: Record<string, string> } };
const TYPES = Object.keys(pkg["node-red"].nodes);

/** The field each dialog must show: the node's main setting. */
const MAIN_FIELD: Record<string, string> = {
  "defect-image-source": "#node-input-mode",
  "defect-preprocess": "#node-input-preset",
  "defect-detector": "#node-input-method",
  "defect-threshold": "#node-input-mode",
  "defect-mask-to-region": "#node-input-overlay",
  "defect-alarm": "#node-input-rule",
  "defect-join-views": "#node-input-views",
  "defect-archive": "#node-input-folder",
  "defect-part-wire": "#node-input-mode",
  "defect-part-collector": "#node-input-timeout",
  "defect-model-share": "#node-input-mode",
  "defect-vision-station": "#node-input-port",
};

/** Nodes of a scale-out line (examples 12 and 13): they need an MQTT broker, which the dashboard example has not. */
const SCALE_OUT = new Set(["defect-part-wire", "defect-part-collector", "defect-model-share"]);

/** The opening words of a node's help (its summary paragraph), as the sidebar shows them. */
function helpSummary(type: string): string {
  const base = basename(pkg["node-red"].nodes[type]!, ".js");
  const html = readFileSync(join(root, "src", "nodes", "locales", "en-US", `${base}.html`), "utf8");
  const first = /<p>([\s\S]*?)<\/p>/.exec(html)?.[1] ?? "";
  return first
    .replace(/<[^>]+>/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .split(" ")
    .slice(0, 8)
    .join(" ");
}

/** The little of the page's globals the callbacks below use (the test build has no DOM lib). */
interface PageElement {
  textContent: string | null;
  querySelector(selector: string): PageElement | null;
  complete?: boolean;
  naturalWidth?: number;
  naturalHeight?: number;
}
declare const document: { getElementById(id: string): PageElement | null; querySelector(selector: string): PageElement | null };
declare const RED: {
  nodes: { filterNodes(filter: { type?: string; z?: string }): EditorNode[]; node(id: string): unknown; remove(id: string): unknown };
  sidebar: { show(tab: string): void };
  workspaces: { show(id: string): void };
  view: { redraw(full: boolean): void; select(selection: { nodes: unknown[] }): void };
};

interface EditorNode {
  id: string;
  type: string;
  name?: string;
  z: string;
}

describe("editor in a real browser (Chromium, playwright-core)", function () {
  this.timeout(PIPELINE_MS + 60_000);
  let server: EditorServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const started = Date.now();

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`      skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`);
      this.skip();
    }
    mkdirSync(SHOTS, { recursive: true });
    // Each run's pictures only: a failure shot from an earlier run would mislead.
    for (const file of readdirSync(SHOTS)) if (file.endsWith(".png")) rmSync(join(SHOTS, file));
    server = await startEditorServer(root);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 940 } });
    page.setDefaultTimeout(UI_MS);
    await page.goto(server.url);
  });

  after(async function () {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    if (server !== undefined) console.log(`      (browser spec: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed" && browser !== undefined) {
      await page.screenshot({ path: join(SHOTS, `failed-${this.currentTest.title.replace(/\W+/g, "-").slice(0, 60)}.png`) }).catch(() => undefined);
      console.log(server?.output().slice(-4000));
    }
  });

  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`) });
  const nodesOf = (filter: { type?: string; z?: string }): Promise<EditorNode[]> =>
    page.evaluate((f) => RED.nodes.filterNodes(f).map((n) => ({ id: n.id, type: n.type, name: n.name, z: n.z })), filter);
  const flowNode = (id: string): Locator => page.locator(`[id="${id}"]`);
  const statusOf = (id: string): Locator => flowNode(id).locator(".red-ui-flow-node-status-label");

  async function named(type: string, name: string): Promise<EditorNode> {
    const found = (await nodesOf({ type })).find((n) => n.name === name);
    assert.ok(found, `a ${type} node named ${name}`);
    return found;
  }

  /** Drags a palette node onto the workspace as a user does, and answers the new node's id. */
  async function dragIn(type: string, x: number, y: number): Promise<string> {
    const before = new Set((await nodesOf({ type })).map((n) => n.id));
    const source = page.locator(`${CATEGORY} .red-ui-palette-node[data-palette-type="${type}"]`);
    await source.scrollIntoViewIfNeeded();
    const from = await source.boundingBox();
    const chart = await page.locator("#red-ui-workspace-chart").boundingBox();
    assert.ok(from && chart);
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(from.x + from.width + 40, from.y, { steps: 5 });
    await page.mouse.move(chart.x + x, chart.y + y, { steps: 10 });
    await page.mouse.up();
    const added = (await nodesOf({ type })).filter((n) => !before.has(n.id));
    assert.equal(added.length, 1, `one ${type} node dropped on the workspace`);
    return added[0]!.id;
  }

  async function openDialog(id: string): Promise<Locator> {
    await flowNode(id).locator(".red-ui-flow-node").dblclick();
    const dialog = page.locator("#red-ui-editor-stack .red-ui-tray").last();
    await dialog.locator("form#dialog-form").waitFor();
    return dialog;
  }

  async function closeDialog(): Promise<void> {
    await page.locator("#node-dialog-cancel").last().click();
    await page.locator("#red-ui-editor-stack .red-ui-tray").waitFor({ state: "detached" });
  }

  it("lists the defect detection category with all the package's nodes in the palette", async function () {
    await page.locator(`${CATEGORY} .red-ui-palette-node`).first().waitFor({ timeout: 60_000 });
    const header = page.locator("#red-ui-palette-header-defect_detection, #red-ui-palette-container-defect_detection .red-ui-palette-header").first();
    assert.match((await header.textContent()) ?? "", /defect detection/);
    const types = await page.$$eval(`${CATEGORY} .red-ui-palette-node`, (els) => els.map((e) => e.getAttribute("data-palette-type")));
    assert.deepEqual([...types].sort(), [...TYPES].sort());
  });

  for (const type of TYPES) {
    it(`opens the ${type} dialog with its fields and shows its help`, async function () {
      const id = await dragIn(type, 320, 160);
      const dialog = await openDialog(id);
      await dialog.locator(MAIN_FIELD[type]!).waitFor({ state: "visible" });
      const fields = await dialog.locator("[id^=node-input-]:visible").count();
      assert.ok(fields >= 3, `${type}: ${fields} visible fields`);
      await page.evaluate(() => RED.sidebar.show("help"));
      const helpText = page.locator(".red-ui-sidebar-help-stack .red-ui-help").last();
      const summary = helpSummary(type);
      assert.ok(summary.split(" ").length >= 5, `${type} has a help summary`);
      await page.waitForFunction(
        (words) => (document.querySelector(".red-ui-sidebar-help-stack")?.textContent ?? "").replace(/\s+/g, " ").includes(words),
        summary,
        { timeout: UI_MS },
      );
      assert.match((await helpText.textContent()) ?? "", /Inputs|Outputs|Details/);
      await shot(`dialog-${type}`);
      await closeDialog();
      await page.evaluate((nodeId) => {
        const node = RED.nodes.node(nodeId);
        if (node) RED.nodes.remove(nodeId);
        RED.view.redraw(true);
      }, id);
    });
  }

  it("offers the few-shot setting in the detector dialog: PatchCore only, 4 good images, auto standardisation and image score (and template comparison: 1 reference, no backbone)", async function () {
    const id = await dragIn("defect-detector", 320, 160);
    const dialog = await openDialog(id);
    const methods = async (): Promise<string[]> =>
      dialog.locator("#node-input-method option").evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value));
    assert.deepEqual(await methods(), ["patchcore", "padim", "anomalib", "template"]);
    // Template comparison: one reference unless set, its own fields, no backbone; and back.
    await dialog.locator("#node-input-method").selectOption("template");
    assert.equal(await dialog.locator("#node-input-trainCount").inputValue(), "1");
    assert.equal(await dialog.locator("#node-input-templateTolerance").isVisible(), true);
    assert.equal(await dialog.locator("#node-input-backbone").isVisible(), false);
    await dialog.locator("#node-input-method").selectOption("patchcore");
    assert.equal(await dialog.locator("#node-input-trainCount").inputValue(), "50");
    assert.equal(await dialog.locator("#node-input-templateTolerance").isVisible(), false);
    await dialog.locator("#node-input-setting").selectOption("fewshot");
    assert.deepEqual(await methods(), ["patchcore"]);
    assert.equal(await dialog.locator("#node-input-trainCount").inputValue(), "4");
    assert.equal(await dialog.locator("#node-input-standardize").inputValue(), "auto");
    assert.equal(await dialog.locator("#node-input-imageScore").inputValue(), "auto");
    assert.match((await dialog.locator("#node-input-setting option:checked").textContent()) ?? "", /few good images/);
    // Back to unknown defects: the default number of images returns.
    await dialog.locator("#node-input-setting").selectOption("unsupervised");
    assert.equal(await dialog.locator("#node-input-trainCount").inputValue(), "50");
    await closeDialog();
    // A flow saved before "auto" existed holds true or false: the dialog shows it as such.
    await page.evaluate((nodeId) => {
      (RED.nodes.node(nodeId) as { standardize: unknown }).standardize = true;
    }, id);
    const reopened = await openDialog(id);
    assert.equal(await reopened.locator("#node-input-standardize").inputValue(), "true");
    await closeDialog();
    await page.evaluate((nodeId) => {
      if (RED.nodes.node(nodeId)) RED.nodes.remove(nodeId);
      RED.view.redraw(true);
    }, id);
  });

  it(`imports "${EXAMPLE}" through Menu > Import > Examples and deploys it`, async function () {
    await page.click("#red-ui-header-button-sidemenu");
    await page.click("#menu-item-import");
    await page.click("#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples");
    const examples = page.locator("#red-ui-clipboard-dialog-import-tab-examples");
    await examples.locator(".red-ui-treeList-label", { hasText: "node-red-contrib-defect-detection" }).click();
    await examples.locator(".red-ui-treeList-label", { hasText: EXAMPLE }).click();
    await page.click("#red-ui-clipboard-dialog-ok");
    // The editor adds the imported nodes after the dialog closes.
    await page.waitForFunction(() => RED.nodes.filterNodes({ type: "defect-detector" }).length > 0);
    const detector = (await nodesOf({ type: "defect-detector" }))[0];
    assert.ok(detector, "the example's detector is in the flows");
    await page.evaluate((tab) => RED.workspaces.show(tab), detector.z);
    await page.click("#red-ui-header-button-deploy");
    await page.locator(".red-ui-notification", { hasText: /Successfully deployed/ }).waitFor();
    const deployed = (await (await fetch(`${server!.url}/flows`)).json()) as Array<{ type: string }>;
    // The dashboard example has one camera, no alarm (PLC), no join of several views, no archive, no broker and no
    // OPC UA station (examples 03, 09, 10, 11, 12, 13 have them).
    for (const type of TYPES.filter(
      (t) => t !== "defect-alarm" && t !== "defect-join-views" && t !== "defect-archive" && t !== "defect-vision-station" && !SCALE_OUT.has(t),
    ))
      assert.ok(
        deployed.some((n) => n.type === type),
        `${type} deployed`,
      );
  });

  it("learns at deploy, calibrates, and shows an inspection's verdict in the debug sidebar after the inject button", async function () {
    const threshold = (await nodesOf({ type: "defect-threshold" }))[0]!;
    // The detector learns its train folder at deploy, then the flow calibrates the threshold.
    await page.waitForFunction(
      (id) => /ready \(sigma/.test(document.getElementById(id)?.querySelector(".red-ui-flow-node-status-label")?.textContent ?? ""),
      threshold.id,
      { timeout: PIPELINE_MS },
    );
    await page.evaluate(() => RED.sidebar.show("debug"));
    const inject = await named("inject", "inspect the line");
    await flowNode(inject.id).locator(".red-ui-flow-node-button").click();
    // Each part of the line with the verdict its name calls for: the good ones OK, the defects NG.
    for (const [name, expected] of LINE_VERDICTS) {
      const message = page
        .locator(".red-ui-debug-msg", { hasText: /verdict/ })
        .filter({ hasText: name })
        .first();
      await message.waitFor({ timeout: PIPELINE_MS });
      assert.match((await message.textContent()) ?? "", new RegExp(`verdict"?:\\s*"?${expected}\\b`), `${name}: ${expected}`);
    }
    const mask = await named("defect-mask-to-region", "");
    await page.waitForFunction(
      (id) => /regions/.test(document.getElementById(id)?.querySelector(".red-ui-flow-node-status-label")?.textContent ?? ""),
      mask.id,
    );
    // The last part, a hole, is what the threshold's status shows.
    assert.match((await statusOf(threshold.id).textContent()) ?? "", /^NG since \d\d:\d\d:\d\d/);
    // The whole flow in view, with the defect detection palette and the debug sidebar beside it.
    await page.click("#red-ui-view-zoom-out");
    await page.click("#red-ui-view-zoom-out");
    await page.evaluate(() => RED.view.select({ nodes: [] }));
    await page.locator(`${CATEGORY} .red-ui-palette-node`).last().scrollIntoViewIfNeeded();
    await shot("01-flow-deployed");
    await page.click("#red-ui-view-zoom-zero");
  });

  it("renders the overlay image, the verdict with its result record and the counts on the dashboard, and teaches the detector a confirmed part", async function () {
    const dashboard = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    dashboard.setDefaultTimeout(UI_MS);
    let passed = false;
    try {
      await dashboard.goto(`${server!.url}/dashboard/defects`);
      const overlay = dashboard.locator("img.defect-overlay");
      await overlay.waitFor({ timeout: PIPELINE_MS });
      assert.match((await overlay.getAttribute("src")) ?? "", /^data:image\/jpeg;base64,/);
      assert.ok(await overlay.evaluate((img: PageElement) => img.complete === true && (img.naturalWidth ?? 0) > 0), "the overlay decodes in the browser");
      // The whole line counted (the counts read "OK 2NG 2UNCERTAIN 0": Vue drops the blanks between them).
      await dashboard.waitForFunction(
        (parts) => (document.querySelector(".defect-counts")?.textContent?.match(/\d+/g) ?? []).reduce((sum, n) => sum + Number(n), 0) === parts,
        LINE_PARTS,
        { timeout: PIPELINE_MS },
      );
      const counts = ((await dashboard.locator(".defect-counts").textContent()) ?? "").replace(/\s+/g, "");
      assert.equal(counts, "OK2NG2UNCERTAIN0", "two good parts passed, two defects rejected, none for review");
      await dashboard.locator(".defect-verdict", { hasText: "part-004-hole.png" }).waitFor();
      assert.equal(((await dashboard.locator(".defect-verdict-word").textContent()) ?? "").trim(), "NG", "the shown part, a hole, is NG");
      // Its result record: the station's number for it, and the time each stage took.
      assert.match(((await dashboard.locator(".defect-result-id").textContent()) ?? "").trim(), /^result #[1-9]\d*$/);
      assert.match(
        (await dashboard.locator(".defect-times").textContent()) ?? "",
        /source \d+, preprocess \d+, model \d+, threshold \d+, regions \d+/,
        "every stage of the line reported its time",
      );
      await dashboard.getByText("Regions of the shown part").waitFor();
      // The operator confirms what the dashboard shows: the last part of the line, a hole.
      await dashboard.getByRole("button", { name: /Confirm defect/ }).click();
      await dashboard.getByText(/part-004-hole\.png learned as defect/).waitFor({ timeout: PIPELINE_MS });
      await dashboard.screenshot({ path: join(SHOTS, "03-dashboard.png"), fullPage: true });
      passed = true;
    } finally {
      if (!passed) await dashboard.screenshot({ path: join(SHOTS, "failed-dashboard.png"), fullPage: true }).catch(() => undefined);
      await dashboard.close();
    }
  });

  it("previews the last overlay, down-scaled, in the mask-to-region dialog", async function () {
    const mask = await named("defect-mask-to-region", "");
    await openDialog(mask.id);
    const preview = page.locator("#defect-mask-to-region-admin");
    await preview.waitFor({ state: "visible" });
    await page.waitForFunction(() => {
      const img = document.getElementById("defect-mask-to-region-admin");
      return img !== null && img.complete === true && (img.naturalWidth ?? 0) > 0;
    });
    const size = await preview.evaluate((img: PageElement) => [img.naturalWidth ?? 0, img.naturalHeight ?? 0]);
    assert.ok(size[0]! <= 320 && size[1]! <= 320 && size[0]! > 0, `preview ${size.join("x")}`);
    await page.evaluate(() => RED.sidebar.show("help"));
    await shot("02-node-dialog");
    await closeDialog();
  });
});
