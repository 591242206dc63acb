/**
 * defect-mask-to-region in Node-RED: regions from crafted masks and maps in original and model
 * space, the filters, the overlay decoded back, and every error path through Catch followed
 * by a good message. Texts go through the node's real en-US catalog, so tests see what users see.
 */
import assert from "node:assert/strict";
import type { NodeAPI, NodeMessage } from "node-red";
import type { SinonSpy } from "sinon";
import sharp from "sharp";
import { computeTransform } from "../../src/lib/image/transform";
import type { Rect } from "../../src/lib/image/types";
import type { Region } from "../../src/lib/regions";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import { encodePng, inRect, makeImage } from "../fixtures/images";
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
  statusCalls,
  useNodeRedHelper,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";
import { catalogTranslator } from "../fixtures/catalog";

const TYPE = "defect-mask-to-region";
const WIDTH = 160;
const HEIGHT = 120;
const GREY = 100;

const translate = catalogTranslator("mask-to-region");

function node(RED: NodeAPI): void {
  (RED as unknown as { _: typeof translate })._ = translate;
  maskToRegionNode(RED);
}

/** A grid of WIDTH x HEIGHT (or the given size) that is `inside` in the rects and `outside` elsewhere. */
function grid<T extends Uint8Array | Float32Array>(make: (n: number) => T, rects: Rect[], inside: number, outside: number, width = WIDTH, height = HEIGHT): T {
  const data = make(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = rects.some((r) => inRect(x, y, r)) ? inside : outside;
  return data;
}

/** Two defects in original pixels: a large one scoring 0.8 and a small one scoring 0.9. */
const LARGE: Rect = { x: 20, y: 30, width: 40, height: 20 };
const SMALL: Rect = { x: 100, y: 80, width: 3, height: 3 };

function originalMessage(extra: Record<string, unknown> = {}): NodeMessage {
  const map = grid((n) => new Float32Array(n), [LARGE], 0.8, 0.1);
  for (let y = SMALL.y; y < SMALL.y + SMALL.height; y++) for (let x = SMALL.x; x < SMALL.x + SMALL.width; x++) map[y * WIDTH + x] = 0.9;
  return {
    payload: { verdict: "NG", score: 0.9, threshold: 0.5 },
    mask: { data: grid((n) => new Uint8Array(n), [LARGE, SMALL], 1, 0), width: WIDTH, height: HEIGHT, space: "original", threshold: 0.5 },
    anomalyMap: { data: map, width: WIDTH, height: HEIGHT, space: "original" },
    ...extra,
  };
}

const boxOf = (r: Region): number[] => [r.x, r.y, r.width, r.height];

describe("defect-mask-to-region node", function () {
  useNodeRedHelper();
  let image: Buffer;

  before(async function () {
    image = await encodePng(makeImage(WIDTH, HEIGHT, 3, () => GREY));
  });

  async function load(config: Partial<MaskToRegionNodeDef> = {}): Promise<void> {
    const item: FlowItem<MaskToRegionNodeDef> = { id: "m2r", type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([item, { id: "out", type: "helper" }, ...catchAll()]));
  }

  async function send(msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"));
    getNode("m2r").receive(msg);
    return out;
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<void> {
    const caught = nextMessage(getNode("caught"));
    getNode("m2r").receive({ _msgid: `m-${code}`, ...msg });
    const result = await caught;
    assert.equal(caughtError(result).code, code, caughtError(result).message);
    if (message !== undefined) assert.equal(caughtError(result).message, `Error: ${message}`);
    assert.equal(result._msgid, `m-${code}`, "the failed message itself reaches Catch");
    assert.equal(result["regions"], undefined, "a failed message is not half-written");
  }

  function warnings(): string[] {
    const spy = getNode("m2r").warn as unknown as SinonSpy<[unknown], void>;
    return spy
      .getCalls()
      .filter((call) => call.thisValue === getNode("m2r"))
      .map((call) => String(call.args[0]));
  }

  it("passes learning, calibration and command answers on untouched", async function () {
    await load();
    for (const payload of [{ learning: true, count: 1, total: 20 }, { calibrating: true, count: 3, total: 200, label: "good" }, { command: "calibrate" }]) {
      const out = nextMessage(getNode("out"));
      getNode("m2r").receive({ payload } as NodeMessage);
      const passed = await out;
      assert.deepEqual(passed.payload, payload);
      assert.equal(passed["regions"], undefined);
    }
  });

  it("reports regions in original pixels, most severe first, with a decodable JPEG overlay", async function () {
    await load({ minArea: "0" });
    const out = await send(originalMessage({ image: { buffer: image, width: WIDTH, height: HEIGHT } }));
    const regions = out["regions"] as Region[];
    assert.deepEqual(regions.map(boxOf), [
      [100, 80, 3, 3],
      [20, 30, 40, 20],
    ]);
    assert.deepEqual(regions[0], {
      x: 100,
      y: 80,
      width: 3,
      height: 3,
      area: 9,
      centroid: { x: 101.5, y: 81.5 },
      maxScore: Math.fround(0.9),
      meanScore: Math.fround(0.9),
    });
    assert.deepEqual([regions[1]!.area, regions[1]!.centroid, regions[1]!.maxScore], [800, { x: 40, y: 40 }, Math.fround(0.8)]);
    assert.deepEqual(out.payload, { verdict: "NG", score: 0.9, threshold: 0.5, regionCount: 2 });
    const overlay = out["overlay"] as Buffer;
    assert.ok(Buffer.isBuffer(overlay));
    const meta = await sharp(overlay).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", WIDTH, HEIGHT], "never larger than the original");
    assert.ok((out["timings"] as Record<string, number>)["regionsMs"]! >= 0);
    assert.deepEqual(statusCalls(getNode("m2r")).at(-1), { fill: "yellow", shape: "dot", text: "regions: 2" });
  });

  it("places a model-space mask through msg.transform", async function () {
    // 160x120 -> 80x80 stretch: scaleX 0.5, scaleY 2/3; tensor box (10, 20, 5, 4) -> (20, 30, 10, 6).
    await load();
    const transform = computeTransform({ width: WIDTH, height: HEIGHT }, null, { width: 80, height: 80, resize: "stretch" });
    const mask = grid((n) => new Uint8Array(n), [{ x: 10, y: 20, width: 5, height: 4 }], 1, 0, 80, 80);
    const out = await send({ payload: { score: 2 }, mask: { data: mask, width: 80, height: 80, space: "model" }, transform });
    const regions = out["regions"] as Region[];
    assert.deepEqual(
      regions.map((r) => [...boxOf(r), r.area, r.maxScore]),
      [[20, 30, 10, 6, 60, null]],
    );
    assert.equal((out.payload as Record<string, unknown>)["regionCount"], 1);
  });

  it("thresholds the map at msg.payload.threshold when there is no mask, and applies minArea and maxCount", async function () {
    await load({ minArea: "10", maxCount: "1", overlay: "none" });
    const message = originalMessage();
    delete message["mask"];
    const out = await send(message);
    // The 3x3 defect (9 px) is below minArea; only the large one is left.
    assert.deepEqual((out["regions"] as Region[]).map(boxOf), [[20, 30, 40, 20]]);
    assert.equal(out["overlay"], undefined);

    const three = originalMessage();
    const data = (three["mask"] as { data: Uint8Array }).data;
    for (const x of [120, 130, 140]) for (let y = 5; y < 10; y++) for (let dx = 0; dx < 4; dx++) data[y * WIDTH + x + dx] = 1;
    const kept = (await send(three))["regions"] as Region[];
    assert.deepEqual(kept.map(boxOf), [[20, 30, 40, 20]], "maxCount 1 keeps the most severe");
  });

  it("sends PNG overlays with the heat map and boxes drawn", async function () {
    await load({ overlay: "png", overlayWidth: "80", opacity: "1", minArea: "0" });
    const out = await send(originalMessage({ image: { buffer: image } }));
    const { data, info } = await sharp(out["overlay"] as Buffer)
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [80, 60]);
    const at = (x: number, y: number): number[] => Array.from(data.subarray((y * 80 + x) * info.channels, (y * 80 + x) * info.channels + 3));
    // LARGE at half size: x 10..29, y 15..24; outline 1 px (under 240 px wide) in cyan.
    assert.deepEqual(at(10, 20), [0, 255, 255]);
    // Inside: score 0.8 between threshold 0.5 and max 0.9 -> t = 0.75, opaque: (255, round(255 * 0.25), 0).
    assert.deepEqual(at(20, 20), [255, 64, 0]);
    assert.deepEqual(at(70, 10), [GREY, GREY, GREY]);
  });

  it("sends regions without an overlay when the message has no image, warning once", async function () {
    await load();
    const first = await send(originalMessage({ overlay: Buffer.from("stale") }));
    assert.equal((first["regions"] as Region[]).length, 1);
    assert.ok(!("overlay" in first), "a stale overlay is removed");
    await send(originalMessage());
    assert.deepEqual(warnings(), [translate(`${TYPE}.warnings.noImage`)]);
  });

  it("shows a green status when a message has no regions", async function () {
    await load();
    const message = originalMessage();
    (message["mask"] as { data: Uint8Array }).data.fill(0);
    const out = await send(message);
    assert.deepEqual(out["regions"], []);
    assert.deepEqual(statusCalls(getNode("m2r")).at(-1), { fill: "green", shape: "dot", text: "regions: 0" });
  });

  describe("errors", function () {
    it("routes bad messages to Catch with a red status, then handles a good one", async function () {
      await load({ overlay: "none" });
      await expectCaught(
        { payload: { score: 1 } },
        "noMaskInput",
        "No mask to find regions in: msg.mask is missing, and there is no msg.anomalyMap to threshold either",
      );
      await expectCaught(
        { mask: { data: new Uint8Array(5), width: 2, height: 2 } },
        "noMaskInput",
        "No mask to find regions in: msg.mask data holds 5 values but 2x2 needs 4",
      );
      await expectCaught(
        { mask: { data: new Uint8Array(4), width: 2, height: 2 }, anomalyMap: { data: new Float32Array(6), width: 3, height: 2 } },
        "maskSizeMismatch",
        "msg.mask (2x2 (original)) and msg.anomalyMap (3x2 (original)) must have the same size and space",
      );
      await expectCaught({ mask: { data: new Uint8Array(4), width: 2, height: 2, space: "model" } }, "noTransformInput");
      await expectCaught({ mask: { data: new Uint8Array(4), width: 2, height: 2, space: "model" }, transform: { roi: 1 } }, "invalidOption");
      assert.deepEqual(statusCalls(getNode("m2r")).at(-1), { fill: "red", shape: "ring", text: `${TYPE}.status.error` });
      const out = await send(originalMessage());
      assert.equal((out["regions"] as Region[]).length, 1);
      assert.deepEqual(statusCalls(getNode("m2r")).at(-1), { fill: "yellow", shape: "dot", text: "regions: 1" });
    });

    it("reports an overlay image that is not the mask's image", async function () {
      await load();
      const other = await encodePng(makeImage(WIDTH / 2, HEIGHT / 2, 3, () => GREY));
      await expectCaught(
        originalMessage({ image: { buffer: other } }),
        "imageSizeMismatch",
        "Cannot draw the overlay: msg.image is 80x60 but the regions are on a 160x120 image",
      );
    });

    for (const [option, value] of [
      ["minArea", "-1"],
      ["maxCount", "0"],
      ["connectivity", "6"],
      ["opacity", "2"],
      ["overlayWidth", "8"],
      ["overlay", "gif"],
    ] as const) {
      it(`refuses ${option} ${value} at deploy and fails every message with invalidOption`, async function () {
        await load({ [option]: value });
        await expectCaught(originalMessage(), "invalidOption", `Invalid ${option}: ${value}`);
      });
    }
  });

  describe("editor and catalog", function () {
    const keys = catalogKeys("mask-to-region");
    it("has a message for every error code and status the node uses", function () {
      for (const code of [
        "invalidOption",
        "noMaskInput",
        "maskSizeMismatch",
        "noTransformInput",
        "imageSizeMismatch",
        "notAnImage",
        "corruptImage",
        "pixelLimit",
        "unexpected",
      ]) {
        assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      }
      for (const key of ["status.regions", "status.error", "warnings.noImage"]) assert.ok(keys.has(`${TYPE}.${key}`), key);
    });

    it("translates every key its editor uses", function () {
      for (const key of editorI18nKeys("mask-to-region")) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of MaskToRegionNodeDef", function () {
      const defined: EditorKeys<MaskToRegionNodeDef> = {
        name: true,
        connectivity: true,
        minArea: true,
        maxCount: true,
        overlay: true,
        overlayWidth: true,
        opacity: true,
      };
      assert.deepEqual(editorDefaultKeys("mask-to-region").sort(), Object.keys(defined).sort());
    });
  });
});
