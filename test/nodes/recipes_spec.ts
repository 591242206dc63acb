/**
 * Product changeover (msg.recipe) through the real detector and threshold nodes: each recipe
 * learns its own reference and keeps its own model file; the next verdicts use the product the
 * line switched to, by message or by a Modbus register a real peer on 127.0.0.1 holds; the choice
 * survives a restart; a used recipe is not read from disk again while it is in the cache, and
 * the evictions beyond it are counted; a bad recipe changes nothing and reaches Catch.
 * Template comparison keeps the test fast: product A is a printed label, product B the label
 * turned by 90 degrees. Without recipes one detector would hold both references and pass both.
 */
import assert from "node:assert/strict";
import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { RawImage, Tensor, Transform } from "../../src/lib/image/types";
import { deriveSeed } from "../../src/lib/random";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import thresholdNode from "../../src/nodes/threshold";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import { startModbusPeer, type ModbusPeer } from "../fixtures/modbus-peer";
import { catchAll, caughtError, getNode, helper, nextMessage, onTab, useNodeRedHelper, waitForStatus, type FlowItem } from "../fixtures/node-red";
import { loadModbusNodes, waitForModbusActive } from "../fixtures/plc-nodes";

const KIND = "printed-pattern";
const SIZE = 128;
const WAIT_MS = 20_000;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });
const PRODUCT_REGISTER = 20;

// One RED._ for both nodes: each withCatalog replaces it for the whole runtime.
const translate = catalogTranslator("detector", "threshold");
const detector = withCatalog(detectorNode, translate);
const threshold = withCatalog(thresholdNode, translate);

interface Prepared {
  tensor: Tensor;
  transform: Transform;
}

async function prepare(image: RawImage): Promise<Prepared> {
  const { tensor, transform } = await preprocessImage(await encodePng(image), OPTIONS, { maxPixels: 1e8 });
  return { tensor, transform };
}

function turned(image: RawImage): RawImage {
  const { width, channels } = image;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < width; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) data[(x * width + (width - 1 - y)) * channels + c] = image.data[(y * width + x) * channels + c] as number;
  return { ...image, data };
}

function msgOf(p: Prepared, extra: Record<string, unknown> = {}): NodeMessage {
  return { payload: p.tensor, transform: p.transform, preprocessing: { ...OPTIONS }, ...extra };
}

interface Verdict {
  verdict: string;
  score: number;
}

describe("recipes: product changeover in the detector and threshold nodes", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  let labelA: Prepared;
  let labelB: Prepared;
  let partA: Prepared;
  let partB: Prepared;

  before(async function () {
    const a = generateGood(KIND, deriveSeed(7, KIND, 1), SIZE);
    labelA = await prepare(a);
    labelB = await prepare(turned(a));
    partA = await prepare(generateGood(KIND, deriveSeed(7, KIND, 2), SIZE));
    partB = await prepare(turned(generateGood(KIND, deriveSeed(7, KIND, 2), SIZE)));
  });

  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  const file = (name: string): string => join(userDir(), "defect-detection", name);

  function lineFlow(recipeCache = 4): FlowItem[] {
    return [
      { id: "det", type: "defect-detector", setting: "unsupervised", method: "template", recipeCache: String(recipeCache), wires: [["thr"]] } as FlowItem,
      { id: "thr", type: "defect-threshold", mode: "fixed", threshold: "0.5", wires: [["out"]] } as FlowItem,
      { id: "out", type: "helper" },
      ...catchAll(),
    ];
  }

  async function load(recipeCache = 4, extra: FlowItem[] = [], nodes: NodeInitializer[] = []): Promise<void> {
    await helper.load([detector, threshold, ...nodes], onTab([...lineFlow(recipeCache), ...extra]));
    await waitForStatus(getNode("det"), /./);
  }

  async function send(msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"), WAIT_MS);
    getNode("det").receive(msg);
    return out;
  }

  async function verdict(p: Prepared, extra: Record<string, unknown> = {}): Promise<Verdict & { msg: NodeMessage }> {
    const msg = await send(msgOf(p, extra));
    return { ...(msg.payload as Verdict), msg };
  }

  async function learnBoth(): Promise<void> {
    const a = await send(msgOf(labelA, { learn: true, recipe: "A" }));
    assert.equal(a["recipe"], "A");
    await send(msgOf(labelB, { learn: true, recipe: "B" }));
  }

  async function state(): Promise<Record<string, unknown>> {
    return (await helper.request().get("/defect-detector/det/state").expect(200)).body as Record<string, unknown>;
  }

  it("learns one model a recipe and decides each part with the recipe the line runs now", async function () {
    await load();
    await learnBoth();
    // B was named last: a message naming no recipe is B's.
    const onB = await verdict(partB);
    assert.equal(onB.verdict, "OK", `a B part on B: ${onB.score}`);
    assert.equal((onB.msg["result"] as { recipe: unknown }).recipe, "B", "the result record names the recipe");
    const aOnB = await verdict(partA);
    assert.equal(aOnB.verdict, "NG", `an A part on B: ${aOnB.score}`);
    const onA = await verdict(partA, { recipe: "A" });
    assert.equal(onA.verdict, "OK", `an A part on A: ${onA.score}`);
    assert.equal((await verdict(partB)).verdict, "NG", "B parts are judged by A's reference after the switch to A");

    // Each recipe's own file beside the node's; the node's own (no recipe) was never learned.
    await access(file("det@A.ddm"));
    await access(file("det@B.ddm"));
    await assert.rejects(access(file("det.ddm")));
    const shown = await state();
    assert.equal(shown["recipe"], "A");
    assert.deepEqual(shown["recipes"], { open: [null, "B", "A"], saved: ["A", "B"], evictions: 0 });
  });

  it("comes back after a restart on the recipe the line ran, with what each recipe learned", async function () {
    await load();
    await learnBoth();
    await verdict(partA, { recipe: "A" });
    // Saved off the message's path; closing the node waits for it.
    await helper.unload();
    const selection = JSON.parse(await readFile(file("det.ddm.recipe.json"), "utf8")) as { recipe: string; version: number };
    assert.deepEqual([selection.recipe, selection.version], ["A", 1]);
    await load();
    await waitForStatus(getNode("det"), /\(A\)$/);
    assert.equal((await verdict(partA)).verdict, "OK", "A, without naming it");
    assert.equal((await verdict(partB, { recipe: "B" })).verdict, "OK", "B's reference was kept too");
  });

  it("switches back to a used recipe without reading its file, and counts recipes closed beyond the cache", async function () {
    await load(2);
    await learnBoth();
    await verdict(partA, { recipe: "A" });
    // Both open: A's file can go and A still decides (it is not read again).
    await rm(file("det@A.ddm"));
    assert.equal((await verdict(partB, { recipe: "B" })).verdict, "OK");
    assert.equal((await verdict(partA, { recipe: "A" })).verdict, "OK", "A from the cache");
    assert.equal((await state())["recipes"] && ((await state())["recipes"] as { evictions: number }).evictions, 1, "the unnamed default made room once");

    await helper.unload();
    await load(1);
    await send(msgOf(labelA, { learn: true, recipe: "A" }));
    await send(msgOf(labelB, { learn: true, recipe: "B" }));
    await verdict(partA, { recipe: "A" });
    const recipes = (await state())["recipes"];
    // The node started on A (the saved selection); B closed A, A closed B.
    assert.deepEqual(recipes, { open: ["A"], saved: ["A", "B"], evictions: 2 });
  });

  it("refuses a recipe that is no identifier, and a recipe command without a recipe, switching nothing", async function () {
    await load();
    await learnBoth();
    for (const [msg, text] of [
      [msgOf(partA, { recipe: { product: "A" } }), /^Error: Invalid msg.recipe: \{"product":"A"\}$/],
      [msgOf(partA, { recipe: "x".repeat(65) }), /^Error: Invalid msg.recipe: x{65}$/],
      [{ command: "recipe", payload: null }, /^Error: Invalid msg.recipe/],
    ] as const) {
      const caught = nextMessage(getNode("caught"), WAIT_MS);
      getNode("det").receive(msg as NodeMessage);
      const error = caughtError(await caught);
      assert.equal(error.code, "invalidOption");
      assert.match(error.message, text);
    }
    assert.equal((await verdict(partB)).verdict, "OK", "still on B");
  });

  describe("switched by a Modbus register", function () {
    let peer: ModbusPeer | undefined;
    afterEach(async function () {
      await helper.unload();
      await peer?.stop();
      peer = undefined;
    });

    it("follows the product number a real Modbus peer holds: the next verdicts use the new recipe", async function () {
      const started = await startModbusPeer();
      peer = started;
      started.setHolding(PRODUCT_REGISTER, 1);
      const modbusNodes = await loadModbusNodes(["modbus-read.js"]);
      const changeover = `if (msg.payload[0] === context.get("product")) return null;
context.set("product", msg.payload[0]);
return { recipe: "P" + msg.payload[0], command: "recipe" };`;
      await load(
        4,
        [
          {
            id: "mb",
            type: "modbus-client",
            clienttype: "tcp",
            tcpHost: started.host,
            tcpPort: started.port,
            tcpType: "DEFAULT",
            unit_id: 1,
            commandDelay: 1,
            clientTimeout: 1000,
            reconnectOnTimeout: true,
            reconnectTimeout: 2000,
            parallelUnitIdsAllowed: true,
          } as FlowItem,
          {
            id: "poll",
            type: "modbus-read",
            server: "mb",
            unitid: "1",
            dataType: "HoldingRegister",
            adr: String(PRODUCT_REGISTER),
            quantity: "1",
            rate: "100",
            rateUnit: "ms",
            delayOnStart: false,
            startDelayTime: "",
            showStatusActivities: false,
            showErrors: true,
            useIOFile: false,
            logIOActivities: false,
            emptyMsgOnFail: false,
            wires: [["product"], []],
          } as FlowItem,
          { id: "product", type: "function", func: changeover, outputs: 1, wires: [["det"]] } as FlowItem,
        ],
        [...modbusNodes, require("@node-red/nodes/core/function/10-function.js") as NodeInitializer],
      );
      await waitForModbusActive(getNode("mb"));
      // The first product the PLC holds selects P1: its answer comes through the threshold.
      const first = await nextMessage(getNode("out"), WAIT_MS);
      assert.equal(first["recipe"], "P1");
      await send(msgOf(labelA, { learn: true }));
      await send(msgOf(labelB, { learn: true, recipe: "P2" }));
      // Back to P1 by the register (learning B named P2 itself).
      started.setHolding(PRODUCT_REGISTER, 2);
      assert.equal((await nextMessage(getNode("out"), WAIT_MS))["recipe"], "P2");
      started.setHolding(PRODUCT_REGISTER, 1);
      assert.equal((await nextMessage(getNode("out"), WAIT_MS))["recipe"], "P1");
      assert.equal((await verdict(partA)).verdict, "OK", "P1 decides A parts");
      assert.equal((await verdict(partB)).verdict, "NG", "and refuses B parts");
      started.setHolding(PRODUCT_REGISTER, 2);
      assert.equal((await nextMessage(getNode("out"), WAIT_MS))["recipe"], "P2");
      const b = await verdict(partB);
      assert.equal(b.verdict, "OK", `P2 decides B parts: ${b.score}`);
      assert.equal((b.msg["result"] as { recipe: unknown }).recipe, "P2");
    });
  });
});
