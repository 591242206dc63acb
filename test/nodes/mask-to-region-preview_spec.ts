/**
 * The editor's overlay preview of defect-mask-to-region: a deployed node answers its last
 * overlay, down-scaled to a small JPEG whatever overlay width the flow sets, with the heat
 * colour where the defect is; nothing before the first overlay or with overlays off; 404 for
 * an id that is no deployed mask-to-region; and the route asks for its read permission.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import express from "express";
import type { Node, NodeAPI, NodeMessage } from "node-red";
import sharp from "sharp";
import type { Rect } from "../../src/lib/image/types";
import { PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE } from "../../src/lib/regions";
import maskToRegionNode from "../../src/nodes/mask-to-region";
import type { MaskToRegionNodeDef } from "../../src/nodes/mask-to-region-def";
import { attachPreview, registerPreviewAdmin, rememberOverlay } from "../../src/nodes/mask-to-region-admin";
import { encodePng, inRect, noiseImage } from "../fixtures/images";
import { getNode, helper, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";
import { catalogTranslator } from "../fixtures/catalog";

const TYPE = "defect-mask-to-region";
/** Large and noisy, so the overlay at full width is far above the preview's byte limit. */
const WIDTH = 1600;
const HEIGHT = 1200;
const DEFECT: Rect = { x: 400, y: 300, width: 400, height: 300 };

const translate = catalogTranslator("mask-to-region");

function node(RED: NodeAPI): void {
  (RED as unknown as { _: typeof translate })._ = translate;
  maskToRegionNode(RED);
}

function defectMessage(image: Buffer): NodeMessage {
  const n = WIDTH * HEIGHT;
  const mask = new Uint8Array(n);
  const map = new Float32Array(n).fill(0.05);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      if (inRect(x, y, DEFECT)) {
        mask[y * WIDTH + x] = 1;
        map[y * WIDTH + x] = 1;
      }
    }
  }
  return {
    payload: { verdict: "NG", score: 1, threshold: 0.5 },
    image: { buffer: image },
    mask: { data: mask, width: WIDTH, height: HEIGHT, space: "original", threshold: 0.5 },
    anomalyMap: { data: map, width: WIDTH, height: HEIGHT, space: "original" },
  } as NodeMessage;
}

describe("defect-mask-to-region overlay preview", function () {
  useNodeRedHelper();
  let image: Buffer;

  before(async function () {
    image = await encodePng(noiseImage(WIDTH, HEIGHT));
  });

  async function load(config: Partial<MaskToRegionNodeDef> = {}): Promise<void> {
    const item: FlowItem<MaskToRegionNodeDef> = { id: "m2r", type: TYPE, wires: [["out"]], overlayWidth: String(WIDTH), ...config };
    await helper.load(node, onTab([item, { id: "out", type: "helper" }]));
  }

  async function inspect(): Promise<NodeMessage> {
    const received = nextMessage(getNode("out"), 20000);
    getNode("m2r").receive(defectMessage(image));
    return received;
  }

  it("answers the last overlay as a JPEG of at most 320 px and 64 KB with the heat where the defect is", async function () {
    await load();
    await helper.request().get(`/${TYPE}/m2r/preview`).expect(204);
    const msg = await inspect();
    const overlay = msg["overlay"] as Buffer;
    assert.equal((await sharp(overlay).metadata()).width, WIDTH, "the flow's own overlay keeps its configured width");
    assert.ok(overlay.length > PREVIEW_MAX_BYTES, `overlay ${overlay.length} bytes: the preview must shrink it`);

    const response = await helper
      .request()
      .get(`/${TYPE}/m2r/preview`)
      .buffer(true)
      .parse((res, callback) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => callback(null, Buffer.concat(chunks)));
      })
      .expect(200)
      .expect("Content-Type", "image/jpeg");
    const preview = response.body as Buffer;
    assert.ok(preview.length <= PREVIEW_MAX_BYTES, `preview ${preview.length} bytes`);
    const { data, info } = await sharp(preview).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.format, "raw");
    assert.deepEqual([info.width, info.height], [PREVIEW_MAX_SIDE, (PREVIEW_MAX_SIDE * HEIGHT) / WIDTH]);
    // The defect's centre is heat-coloured: red (and yellow) blended over the noise, with little blue.
    const scale = info.width / WIDTH;
    const at = (x: number, y: number): number[] => {
      const i = (Math.round(y * scale) * info.width + Math.round(x * scale)) * info.channels;
      return [data[i]!, data[i + 1]!, data[i + 2]!];
    };
    const [r, , b] = at(DEFECT.x + DEFECT.width / 2, DEFECT.y + DEFECT.height / 2);
    assert.ok(r! - b! > 80, `heat at the defect: rgb ${at(DEFECT.x + DEFECT.width / 2, DEFECT.y + DEFECT.height / 2).join(",")}`);
  });

  it("has nothing to show with overlays off, and 404 for an id that is no deployed mask-to-region", async function () {
    await load({ overlay: "none" });
    const msg = await inspect();
    assert.equal(msg["overlay"], undefined);
    await helper.request().get(`/${TYPE}/m2r/preview`).expect(204);
    const missing = await helper.request().get(`/${TYPE}/nope/preview`).expect(404);
    assert.deepEqual(missing.body, { error: `no deployed ${TYPE} node with id nope` });
    await helper.request().get(`/${TYPE}/out/preview`).expect(404);
  });

  it("forgets the preview when the node is redeployed", async function () {
    await load();
    await inspect();
    await helper.request().get(`/${TYPE}/m2r/preview`).expect(200);
    await helper.unload();
    await load();
    await helper.request().get(`/${TYPE}/m2r/preview`).expect(204);
  });

  it("needs defect-mask-to-region.read", async function () {
    const granted = new Set<string>();
    const asked: string[] = [];
    const app = express();
    const fake = { id: "n1", type: TYPE } as unknown as Node;
    const RED = {
      httpAdmin: app,
      auth: {
        needsPermission: (permission: string) => {
          asked.push(permission);
          return (_req: unknown, res: { status(code: number): { end(): void } }, next: () => void) =>
            granted.has(permission) ? next() : res.status(401).end();
        },
      },
      nodes: { getNode: (id: string) => (id === "n1" ? fake : null) },
    } as unknown as NodeAPI;
    registerPreviewAdmin(RED, TYPE);
    registerPreviewAdmin(RED, TYPE);
    assert.deepEqual(asked, [`${TYPE}.read`], "one route, registered once");
    attachPreview(fake);
    rememberOverlay(
      fake,
      await sharp({ create: { width: 640, height: 480, channels: 3, background: "#808080" } })
        .png()
        .toBuffer(),
    );
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${TYPE}/n1/preview`;
    try {
      assert.equal((await fetch(url)).status, 401);
      granted.add(`${TYPE}.read`);
      const response = await fetch(url);
      assert.equal(response.status, 200);
      const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", PREVIEW_MAX_SIDE, 240]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
