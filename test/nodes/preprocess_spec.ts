import assert from "node:assert/strict";
import type { NodeMessage } from "node-red";
import type { PreprocessOptions, Tensor, Transform } from "../../src/lib/image/types";
import preprocessNode from "../../src/nodes/preprocess";
import type { PreprocessNodeDef } from "../../src/nodes/preprocess-def";
import { encodePng, makeImage, noiseImage, tensorAt } from "../fixtures/images";
import {
  catalogKeys,
  catchAll,
  caughtError,
  editorDefaultKeys,
  editorI18nKeys,
  getNode,
  helper,
  nextMessage,
  onTab,
  recordStatusTexts,
  statusTexts,
  useNodeRedHelper,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-preprocess";
const READY = `${TYPE}.status.ready`;
const ERROR = `${TYPE}.status.error`;
/** Float32 keeps about 7 significant digits. */
const EPSILON = 1e-6;

/** 4x2 RGB image whose every value is distinct and known: 60x + 10y + 3c. */
const KNOWN_WIDTH = 4;
const KNOWN_HEIGHT = 2;
const knownValue = (x: number, y: number, c: number): number => 60 * x + 10 * y + 3 * c;

async function load(config: Partial<PreprocessNodeDef>): Promise<void> {
  const node: FlowItem<PreprocessNodeDef> = { id: "pre", type: TYPE, wires: [["out"]], ...config };
  await helper.load(preprocessNode, onTab([node, { id: "out", type: "helper" }, ...catchAll()]));
}

async function send(msg: NodeMessage): Promise<NodeMessage> {
  const out = nextMessage(getNode("out"));
  getNode("pre").receive(msg);
  return out;
}

async function expectCaught(msg: NodeMessage, code: string): Promise<NodeMessage> {
  const caught = nextMessage(getNode("caught"));
  getNode("pre").receive(msg);
  const result = await caught;
  assert.equal(caughtError(result).message, `Error: ${TYPE}.errors.${code}`);
  assert.equal(caughtError(result).code, code);
  assert.equal(result._msgid, msg._msgid, "the failed message itself reaches Catch");
  return result;
}

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= EPSILON, `${what}: ${actual} is not ${expected}`);
}

/** The editor's `none` preset with the identity size, so tensor values are pixel / 255. */
const IDENTITY: Partial<PreprocessNodeDef> = {
  preset: "none",
  width: String(KNOWN_WIDTH),
  height: String(KNOWN_HEIGHT),
  kernel: "nearest",
  resizeMode: "stretch",
};

describe("defect-preprocess node", function () {
  useNodeRedHelper();
  let known: Buffer;
  let noise: Buffer;

  before(async function () {
    known = await encodePng(makeImage(KNOWN_WIDTH, KNOWN_HEIGHT, 3, knownValue));
    noise = await encodePng(noiseImage(20, 20));
  });

  it("loads with its defaults and shows ready", async function () {
    await helper.load(preprocessNode, [{ id: "pre", type: TYPE }]);
    assert.deepEqual(statusTexts(getNode("pre")), [READY]);
  });

  it("normalises with the ImageNet preset by default", async function () {
    const uniform = await encodePng(makeImage(8, 8, 3, (_x, _y, c) => [100, 150, 200][c]!));
    await load({});
    const msg = await send({ payload: uniform });
    const tensor = msg.payload as Tensor;
    assert.deepEqual(tensor.dims, [1, 3, 256, 256]);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    for (const [c, value] of [100, 150, 200].entries()) {
      const expected = (value / 255 - mean[c]!) / std[c]!;
      assertClose(tensorAt(tensor, 0, 0, c), expected, `channel ${c} at 0,0`);
      assertClose(tensorAt(tensor, 255, 255, c), expected, `channel ${c} at 255,255`);
    }
  });

  it("takes the resize mode from resizeMode, from a hand-written flow's resize text, never from the editor's resize flag", async function () {
    const modeOf = async (config: Record<string, unknown>): Promise<unknown> => {
      await load({ preset: "yolo", width: "32", height: "32", ...config } as Partial<PreprocessNodeDef>);
      const msg = await send({ payload: known });
      await helper.unload();
      return (msg["preprocessing"] as PreprocessOptions).resize;
    };
    assert.equal(await modeOf({ resizeMode: "center-crop" }), "center-crop");
    assert.equal(await modeOf({ resize: "stretch" }), "stretch", "flows written before resizeMode keep their mode");
    // Editors before resizeMode deployed their own redraw flag under that name: the preset decides.
    assert.equal(await modeOf({ resize: false }), "letterbox");
    assert.equal(await modeOf({ resize: true }), "letterbox");
  });

  it("turns a known image into the exact tensor and transform, from msg.payload", async function () {
    await load(IDENTITY);
    const msg = await send({ payload: known.toString("base64"), topic: "part" });
    const tensor = msg.payload as Tensor;
    assert.ok(tensor.data instanceof Float32Array);
    assert.deepEqual(tensor.dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH]);
    assert.equal(tensor.layout, "NCHW");
    for (let y = 0; y < KNOWN_HEIGHT; y++) {
      for (let x = 0; x < KNOWN_WIDTH; x++) {
        for (let c = 0; c < 3; c++) assertClose(tensorAt(tensor, x, y, c), knownValue(x, y, c) / 255, `pixel ${x},${y},${c}`);
      }
    }
    const transform: Transform = {
      source: { width: KNOWN_WIDTH, height: KNOWN_HEIGHT },
      roi: { x: 0, y: 0, width: KNOWN_WIDTH, height: KNOWN_HEIGHT },
      scaleX: 1,
      scaleY: 1,
      offsetX: 0,
      offsetY: 0,
      width: KNOWN_WIDTH,
      height: KNOWN_HEIGHT,
    };
    assert.deepEqual(msg["transform"], transform);
    const preprocessing: PreprocessOptions = {
      width: KNOWN_WIDTH,
      height: KNOWN_HEIGHT,
      resize: "stretch",
      kernel: "nearest",
      padValue: 114,
      roi: null,
      color: "rgb",
      layout: "NCHW",
      scale: 1,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    };
    assert.deepEqual(msg["preprocessing"], preprocessing, "the effective options travel as msg.preprocessing");
    const image = msg["image"] as Record<string, unknown>;
    assert.ok(Buffer.isBuffer(image["buffer"]) && image["buffer"].equals(known), "msg.image is created from the payload");
    assert.deepEqual(
      { ...image, buffer: undefined },
      {
        buffer: undefined,
        format: "png",
        width: KNOWN_WIDTH,
        height: KNOWN_HEIGHT,
        channels: 3,
        bitDepth: 8,
        orientation: 1,
        source: "payload",
      },
    );
    const timings = msg["timings"] as Record<string, unknown>;
    assert.equal(typeof timings["preprocessMs"], "number");
    assert.ok((timings["preprocessMs"] as number) >= 0);
    assert.equal(msg.topic, "part");
  });

  it("prefers msg.image.buffer, keeps msg.image and earlier timings", async function () {
    await load(IDENTITY);
    const image = { buffer: known, format: "png", width: KNOWN_WIDTH, height: KNOWN_HEIGHT, source: "file", path: "/x.png" };
    const msg = await send({ payload: "not used", image, timings: { captureMs: 3 } });
    assert.deepEqual((msg.payload as Tensor).dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH]);
    assert.equal((msg["image"] as Record<string, unknown>)["path"], "/x.png");
    assert.equal((msg["timings"] as Record<string, unknown>)["captureMs"], 3);
  });

  it("applies msg.preprocess over the node's options for that message only", async function () {
    await load(IDENTITY);
    const overridden = await send({ payload: known, preprocess: { width: 2, height: 1, layout: "NHWC", roi: "2,0,2,2" } });
    const tensor = overridden.payload as Tensor;
    assert.deepEqual(tensor.dims, [1, 1, 2, 3]);
    assert.equal(tensor.layout, "NHWC");
    const transform = overridden["transform"] as Transform;
    assert.deepEqual(transform.roi, { x: 2, y: 0, width: 2, height: 2 });
    assert.deepEqual([transform.scaleX, transform.scaleY, transform.width, transform.height], [1, 0.5, 2, 1]);
    const used = overridden["preprocessing"] as PreprocessOptions;
    assert.deepEqual([used.width, used.height, used.layout, used.roi], [2, 1, "NHWC", { x: 2, y: 0, width: 2, height: 2 }]);
    const plain = await send({ payload: known });
    assert.deepEqual((plain.payload as Tensor).dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH]);
    // A copy per message: a flow editing msg.preprocessing cannot change the node's options.
    (plain["preprocessing"] as PreprocessOptions).mean.push(99);
    const next = await send({ payload: known });
    assert.deepEqual((next["preprocessing"] as PreprocessOptions).mean, [0, 0, 0]);
  });

  it("uses a recipe's own options for messages naming it (product changeover), msg.preprocess still on top", async function () {
    await load({ ...IDENTITY, recipes: JSON.stringify({ "B-200": { roi: "2,0,2,2", width: 2, height: 2 }, 7: { layout: "NHWC" } }) });
    const b = await send({ payload: known, recipe: "B-200" });
    assert.deepEqual((b.payload as Tensor).dims, [1, 3, 2, 2]);
    assert.deepEqual((b["transform"] as Transform).roi, { x: 2, y: 0, width: 2, height: 2 });
    assert.equal(
      (await send({ payload: known, recipe: 7 })).payload && ((await send({ payload: known, recipe: 7 })).payload as Tensor).layout,
      "NHWC",
      "a PLC's number names the recipe",
    );
    const other = await send({ payload: known, recipe: "A-100" });
    assert.deepEqual((other.payload as Tensor).dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH], "a recipe without settings: the node's own");
    assert.deepEqual((await send({ payload: known })).payload && ((await send({ payload: known })).payload as Tensor).dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH]);
    const over = await send({ payload: known, recipe: "B-200", preprocess: { width: 1 } });
    assert.deepEqual((over.payload as Tensor).dims, [1, 3, 2, 1], "msg.preprocess over the recipe's options");
  });

  describe("errors reach Catch with the message", function () {
    it("a truncated PNG", async function () {
      await load(IDENTITY);
      await expectCaught({ _msgid: "m-cut", payload: noise.subarray(0, Math.floor(noise.length / 2)) }, "corruptImage");
    });

    it("bytes that are not an image", async function () {
      await load(IDENTITY);
      await expectCaught({ _msgid: "m-text", payload: Buffer.from("hello, not an image") }, "notAnImage");
    });

    it("a message without an image", async function () {
      await load(IDENTITY);
      await expectCaught({ _msgid: "m-none", payload: 42 }, "noImageInput");
    });

    it("an image over the pixel limit", async function () {
      // 0.0001 megapixels is 100 pixels; the image has 400.
      await load({ ...IDENTITY, maxPixels: "0.0001" });
      await expectCaught({ _msgid: "m-big", payload: noise }, "pixelLimit");
    });

    it("a region outside the image", async function () {
      await load({ ...IDENTITY, roi: "0,0,100,100" });
      await expectCaught({ _msgid: "m-roi", payload: noise }, "invalidOption");
    });

    it("a msg.preprocess asking for more tensor pixels than 2048x2048 or the node's own size", async function () {
      await load(IDENTITY);
      await expectCaught({ _msgid: "m-huge", payload: known, preprocess: { width: 8192, height: 8192 } }, "invalidOption");
      await expectCaught({ _msgid: "m-wide", payload: known, preprocess: { width: 4097, height: 1024 } }, "invalidOption");
      // As many pixels as 2048 x 2048, in another shape: allowed.
      const allowed = await send({ payload: known, preprocess: { width: 4096, height: 1024 } });
      assert.deepEqual((allowed.payload as Tensor).dims, [1, 3, 1024, 4096]);
    });

    it("a bad msg.preprocess override, after which the node still works", async function () {
      await load(IDENTITY);
      await expectCaught({ _msgid: "m-o1", payload: known, preprocess: { width: -1 } }, "invalidOption");
      await expectCaught({ _msgid: "m-o2", payload: known, preprocess: "wide" }, "invalidOption");
      await send({ payload: known });
      assert.deepEqual(statusTexts(getNode("pre")), [READY, ERROR, READY]);
    });
  });

  describe("invalid configuration", function () {
    for (const [what, config] of [
      ["a width that is not a number", { width: "abc" }],
      ["an unknown resize mode", { resizeMode: "zoom" }],
      ["a malformed region", { roi: "1,2,3" }],
      ["an unknown preset", { preset: "resnet" }],
      ["a pixel limit of zero", { maxPixels: "0" }],
      ["recipes that are not JSON", { recipes: "{B-200: 1}" }],
      ["a recipe whose settings are not an object", { recipes: '{"B-200": 1}' }],
      ["a recipe with a malformed region", { recipes: '{"B-200": {"roi": "1,2,3"}}' }],
    ] as const) {
      it(`rejects ${what} at deploy and every message after`, async function () {
        await load({ ...IDENTITY, ...config });
        assert.deepEqual(statusTexts(getNode("pre")), [ERROR]);
        await expectCaught({ _msgid: `m-${what}`, payload: known }, "invalidOption");
      });
    }
  });

  it("closes cleanly: what was sent is finished, a removed node clears its status", async function () {
    await load(IDENTITY);
    const out = await send({ payload: known });
    assert.deepEqual((out.payload as Tensor).dims, [1, 3, KNOWN_HEIGHT, KNOWN_WIDTH]);
    const node = getNode("pre") as unknown as { close(removed: boolean): Promise<void> };
    const shown = recordStatusTexts(getNode("pre"));
    // Deleted in the editor and deployed: Node-RED closes it as removed.
    await node.close(true);
    assert.deepEqual(shown, [""], "a removed node clears its status");
  });

  describe("catalog", function () {
    const keys = catalogKeys("preprocess");
    it("has a message for every error code and status the node uses", function () {
      for (const code of ["invalidOption", "noImageInput", "notAnImage", "unsupportedFormat", "corruptImage", "pixelLimit", "unexpected"]) {
        assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      }
      for (const state of ["ready", "error"]) assert.ok(keys.has(`${TYPE}.status.${state}`), state);
    });

    it("has every string the editor asks for", function () {
      for (const key of editorI18nKeys("preprocess")) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of PreprocessNodeDef", function () {
      // The compiler checks this list against the interface, the test against the html.
      const defined: EditorKeys<PreprocessNodeDef> = {
        name: true,
        preset: true,
        width: true,
        height: true,
        resizeMode: true,
        kernel: true,
        padValue: true,
        roi: true,
        color: true,
        layout: true,
        scale: true,
        mean: true,
        std: true,
        recipes: true,
        maxPixels: true,
        queueSize: true,
        overflow: true,
      };
      assert.deepEqual(editorDefaultKeys("preprocess").sort(), Object.keys(defined).sort());
    });
  });
});
