/**
 * The image source's typed inputs: Path and URL may name a message property ("msg.") instead
 * of holding the value, so a flow can carry the file or camera address anywhere in the message.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import { startHttpServer, type TestServer } from "../fixtures/http-server";
import { encodePng, noiseImage } from "../fixtures/images";
import { catchAll, caughtError, getNode, helper, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const TYPE = "defect-image-source";

async function load(config: Partial<ImageSourceNodeDef>): Promise<void> {
  const node: FlowItem<ImageSourceNodeDef> = { id: "src", type: TYPE, wires: [["out"]], ...config } as FlowItem<ImageSourceNodeDef>;
  await helper.load(imageSourceNode, onTab([node, { id: "out", type: "helper" }, ...catchAll()]));
}

function imageOf(msg: NodeMessage): { path?: string; url?: string; width: number } {
  return msg["image"] as { path?: string; url?: string; width: number };
}

describe("defect-image-source: path and URL from a message property", function () {
  useNodeRedHelper();
  let dir = "";
  let png: Buffer;
  let server: TestServer | undefined;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "defect-source-prop-"));
    png = await encodePng(noiseImage(12, 8));
    writeFileSync(join(dir, "part.png"), png);
  });
  afterEach(async function () {
    await server?.close();
    server = undefined;
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the file named by msg.<property> (a nested property too)", async function () {
    await load({ mode: "file", pathType: "msg", path: "camera.file" });
    const out = nextMessage(getNode("out"));
    getNode("src").receive({ camera: { file: join(dir, "part.png") }, filename: "ignored.png" } as NodeMessage);
    const image = imageOf(await out);
    assert.equal(image.path, join(dir, "part.png"));
    assert.equal(image.width, 12);
  });

  it("says which message property is missing when it holds no path", async function () {
    await load({ mode: "file", pathType: "msg", path: "camera.file" });
    const caught = nextMessage(getNode("caught"));
    getNode("src").receive({ _msgid: "no-path", filename: join(dir, "part.png") } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "missingSource");
    assert.equal(error.message, `Error: ${TYPE}.errors.missingSource`);
  });

  it("fetches the URL named by msg.<property>", async function () {
    server = await startHttpServer((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(png));
    await load({ mode: "url", urlType: "msg", url: "snapshot" });
    const out = nextMessage(getNode("out"));
    getNode("src").receive({ snapshot: server.url("/cam.png") } as NodeMessage);
    assert.equal(imageOf(await out).url, server.url("/cam.png"));
  });

  it("refuses at deploy a msg. choice without a property name", async function () {
    await load({ mode: "url", urlType: "msg", url: "" });
    const caught = nextMessage(getNode("caught"));
    getNode("src").receive({ _msgid: "cfg", url: "http://127.0.0.1:9/x.png" } as NodeMessage);
    const error = caughtError(await caught);
    assert.equal(error.code, "invalidOption");
  });
});
