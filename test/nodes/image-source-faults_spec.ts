/**
 * The image source against faulty cameras and slow writers, in Node-RED: a camera on 127.0.0.1
 * that stalls, answers garbage, fails and recovers, or is gone; the warnings for each failed
 * attempt, the final failure at Catch with a red status, recovery once the camera is back, no
 * retry after the node is closed; and a watched file written slowly in many chunks, sent once,
 * whole. Texts are the en-US catalog's, as a user sees them.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Node } from "node-red";
import type { SinonSpy } from "sinon";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { closedPortUrl, startHttpServer, type TestServer } from "../fixtures/http-server";
import { encodePng, noiseImage } from "../fixtures/images";
import {
  caughtError,
  caughtFor,
  catchAll,
  delay,
  expectNoMessage,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-image-source";
const translate = catalogTranslator("image-source");
const node = withCatalog(imageSourceNode, translate);
/** Small timeouts and waits so each test takes a fraction of a second. */
const CAMERA = { timeout: "150", retries: "2", retryDelay: "20" };

async function load(config: Partial<ImageSourceNodeDef>): Promise<void> {
  const source: FlowItem<ImageSourceNodeDef> = { id: "src", type: TYPE, wires: [["out"]], ...config };
  await helper.load(node, onTab([source, { id: "out", type: "helper" }, ...catchAll()]));
}

/** Warnings the node logged (the helper spies on Node.prototype.warn), as text. */
function warnings(of: Node): string[] {
  const spy = of.warn as unknown as SinonSpy<[unknown], void>;
  return spy
    .getCalls()
    .filter((call) => call.thisValue === of)
    .map((call) => String(call.args[0]));
}

describe("defect-image-source with faulty cameras and slow writers", function () {
  const userDir = useNodeRedHelper();
  let png: Buffer;
  let server: TestServer | undefined;
  let requests = 0;

  async function camera(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    requests = 0;
    server = await startHttpServer((req, res) => answer(++requests, req, res));
    return server.url("/snapshot.png");
  }

  before(async function () {
    png = await encodePng(noiseImage(24, 16));
  });
  afterEach(async function () {
    await server?.close();
    server = undefined;
  });

  describe("HTTP camera", function () {
    it("retries a camera that stalls, then answers HTML, and sends the third attempt's image, warning twice", async function () {
      const url = await camera((n, _req, res) => {
        if (n === 1) {
          // Headers and a few bytes, then nothing: the timeout covers the whole download.
          res.writeHead(200, { "content-type": "image/png", "content-length": String(png.length) });
          res.write(png.subarray(0, 16));
        } else if (n === 2) res.writeHead(200, { "content-type": "text/html" }).end("<html>camera starting</html>");
        else res.writeHead(200, { "content-type": "image/png" }).end(png);
      });
      await load({ mode: "url", url, ...CAMERA });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({ _msgid: "m-ok" });
      const msg = await out;
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(png));
      assert.equal(requests, 3);
      assert.deepEqual(warnings(getNode("src")), [
        `Snapshot attempt 1 of 3 failed, trying again in 20 ms: No complete answer from ${url} within 150 ms`,
        `Snapshot attempt 2 of 3 failed, trying again in 40 ms: ${url} is not an image (Input buffer contains unsupported image format)`,
      ]);
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.ready`, `${TYPE}.status.busy`, `${TYPE}.status.ready`]);
    });

    it("reports the last failure through Catch with a red status, then recovers when the camera is back", async function () {
      let up = false;
      const url = await camera((_n, _req, res) => {
        if (up) res.writeHead(200, { "content-type": "image/png" }).end(png);
        else res.writeHead(503, "Service Unavailable").end();
      });
      await load({ mode: "url", url, ...CAMERA });
      const src = getNode("src");
      const caught = await caughtFor("m-down", () => src.receive({ _msgid: "m-down" }));
      const error = caughtError(caught);
      assert.equal(error.code, "fetchStatus");
      assert.equal(error.message, `Error: ${url} answered HTTP 503 Service Unavailable`);
      assert.equal(requests, 3, "1 + 2 retries");
      assert.equal(warnings(src).length, 2);
      assert.equal(statusTexts(src).at(-1), `${TYPE}.status.error`);

      up = true;
      const out = nextMessage(getNode("out"));
      src.receive({ _msgid: "m-up" });
      assert.ok((await out).payload instanceof Buffer);
      assert.equal(requests, 4, "the first attempt after recovery succeeds");
      assert.equal(statusTexts(src).at(-1), `${TYPE}.status.ready`);
    });

    it("gives up on a camera that never answers with fetchTimeout after every attempt timed out", async function () {
      const url = await camera(() => undefined);
      await load({ mode: "url", url, ...CAMERA, retries: "1" });
      const caught = await caughtFor("m-hang", () => getNode("src").receive({ _msgid: "m-hang" }));
      assert.equal(caughtError(caught).code, "fetchTimeout");
      assert.equal(caughtError(caught).message, `Error: No complete answer from ${url} within 150 ms`);
      assert.equal(requests, 2);
    });

    it("gives up on a camera that answers random bytes with notAnImage", async function () {
      const garbage = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256));
      const url = await camera((_n, _req, res) => res.writeHead(200, { "content-type": "image/jpeg" }).end(garbage));
      await load({ mode: "url", url, ...CAMERA, retries: "1" });
      const caught = await caughtFor("m-garbage", () => getNode("src").receive({ _msgid: "m-garbage" }));
      assert.equal(caughtError(caught).code, "notAnImage");
      assert.equal(caughtError(caught).message, `Error: ${url} is not an image (Input buffer contains unsupported image format)`);
      assert.equal(requests, 2);
    });

    it("reports a camera that is gone (closed port) as fetchFailed ECONNREFUSED", async function () {
      const url = await closedPortUrl("/snapshot.png");
      await load({ mode: "url", url, ...CAMERA });
      const caught = await caughtFor("m-gone", () => getNode("src").receive({ _msgid: "m-gone" }));
      assert.equal(caughtError(caught).message, `Error: Could not fetch ${url} (ECONNREFUSED)`);
      assert.equal(warnings(getNode("src")).length, 2);
    });

    it("does not retry wrong credentials", async function () {
      const url = await camera((_n, _req, res) => res.writeHead(401, "Unauthorized").end());
      await load({ mode: "url", url, ...CAMERA });
      const caught = await caughtFor("m-401", () => getNode("src").receive({ _msgid: "m-401" }));
      assert.equal(caughtError(caught).message, `Error: ${url} answered HTTP 401 Unauthorized`);
      assert.equal(requests, 1);
      assert.deepEqual(warnings(getNode("src")), []);
    });

    it("makes no further attempt once the node is closed during a back-off wait", async function () {
      let firstFailed: () => void = () => undefined;
      const failed = new Promise<void>((resolve) => (firstFailed = resolve));
      const url = await camera((_n, _req, res) => {
        res.writeHead(503).end();
        firstFailed();
      });
      await load({ mode: "url", url, ...CAMERA, retryDelay: "200" });
      getNode("src").receive({ _msgid: "m-closed" });
      await failed;
      await helper.unload();
      // Without the stop, the retry would come 200 ms after the first failure.
      await delay(600);
      assert.equal(requests, 1);
    });
  });

  describe("watched folder", function () {
    const STABLE_MS = 300;
    const CHUNKS = 8;
    let dir = "";
    beforeEach(function () {
      dir = join(userDir(), "slow-writer");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
    });

    it("sends a file written slowly in many chunks once, whole, although writing took longer than the settle time", async function () {
      const big = await encodePng(noiseImage(160, 120));
      await load({ mode: "folder", folder: dir, stableMs: String(STABLE_MS) });
      await waitForStatus(getNode("src"), `${TYPE}.status.watching`);
      const out = getNode("out");
      const arrived = nextMessage(out, 10_000);
      const path = join(dir, "slow.png");
      const file = await open(path, "w");
      try {
        // Each pause is a third of the settle time; all of them together are longer than it.
        const size = Math.ceil(big.length / CHUNKS);
        for (let offset = 0; offset < big.length; offset += size) {
          await file.write(big.subarray(offset, offset + size));
          await delay(STABLE_MS / 3);
        }
      } finally {
        await file.close();
      }
      const msg = await arrived;
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(big), "the complete file, not a part");
      assert.equal(msg["filename"], path);
      await expectNoMessage(out, STABLE_MS * 2);
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.loading`, `${TYPE}.status.watching`], "no error: nothing partial was read");
    });
  });
});
