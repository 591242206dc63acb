import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import { closedPortUrl, startHttpServer, type TestServer } from "../fixtures/http-server";
import { encodePng, noiseImage } from "../fixtures/images";
import {
  catalogKeys,
  catchAll,
  caughtError,
  caughtFor,
  collectMessages,
  delay,
  editorDefaultKeys,
  editorI18nKeys,
  expectNoMessage,
  firstSent,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type EditorKeys,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-image-source";
const SIZE = 20;
/** Settle time for watched files in these tests; the chunk pause below is well inside it. */
const STABLE_MS = 500;
const CHUNK_PAUSE_MS = 100;

function source(config: Partial<ImageSourceNodeDef>): FlowItem<ImageSourceNodeDef> {
  return { id: "src", type: TYPE, wires: [["out"]], ...config };
}

/** The node under test, a helper on its output and a Catch node for the tab. */
async function load(config: Partial<ImageSourceNodeDef>, credentials?: Record<string, object>): Promise<void> {
  const flow = onTab([source(config), { id: "out", type: "helper" }, ...catchAll()]);
  await helper.load(imageSourceNode, flow, credentials ?? {});
}

interface SentImage {
  buffer: Buffer;
  format: string;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  orientation: number;
  source: string;
  path?: string;
  url?: string;
}

function imageOf(msg: NodeMessage): SentImage {
  return msg["image"] as SentImage;
}

/** Sends `msg` into the node and resolves with the Catch node's message. */
async function expectCaught(msg: NodeMessage, code: string): Promise<NodeMessage> {
  const caught = nextMessage(getNode("caught"));
  getNode("src").receive(msg);
  const result = await caught;
  const error = caughtError(result);
  assert.equal(error.message, `Error: ${TYPE}.errors.${code}`);
  assert.equal(error.code, code);
  assert.equal(error.source.id, "src");
  assert.equal(result._msgid, msg._msgid, "the failed message itself reaches Catch");
  return result;
}

describe("defect-image-source node", function () {
  const userDir = useNodeRedHelper();
  let dir = "";
  let png: Buffer;

  before(async function () {
    png = await encodePng(noiseImage(SIZE, SIZE));
    dir = join(userDir(), "images");
  });
  beforeEach(function () {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  });

  it("loads with its defaults and shows ready", async function () {
    await helper.load(imageSourceNode, [{ id: "src", type: TYPE, name: "camera" }]);
    const node = getNode("src");
    assert.equal(node.type, TYPE);
    assert.equal(node.name, "camera");
    assert.deepEqual(statusTexts(node), [`${TYPE}.status.ready`]);
  });

  describe("file mode", function () {
    it("reads a fixed path and sends the untouched bytes with msg.image", async function () {
      const path = join(dir, "part.png");
      writeFileSync(path, png);
      await load({ mode: "file", path });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({ payload: "ignored" });
      const msg = await out;
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(png));
      const image = imageOf(msg);
      assert.equal(image.buffer, msg.payload, "msg.image.buffer is the same Buffer as msg.payload");
      assert.deepEqual(
        { ...image, buffer: undefined },
        { buffer: undefined, format: "png", width: SIZE, height: SIZE, channels: 3, bitDepth: 8, orientation: 1, source: "file", path },
      );
      assert.equal(msg["filename"], path);
      assert.equal(msg.topic, "part.png");
      const sourceMs = (msg["timings"] as Record<string, number>)["sourceMs"];
      assert.ok(typeof sourceMs === "number" && sourceMs >= 0, "the read's duration in msg.timings.sourceMs");
    });

    it("resolves a relative path against the user directory", async function () {
      writeFileSync(join(userDir(), "relative.png"), png);
      await load({ mode: "file", path: "relative.png" });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({});
      assert.equal((await out)["filename"], join(userDir(), "relative.png"));
    });

    it("takes msg.filename, then a string msg.payload, when the path is empty, keeping a given topic", async function () {
      const path = join(dir, "from-msg.png");
      writeFileSync(path, png);
      await load({ mode: "file", path: "" });
      // One at a time: Node-RED does not keep the order of messages handled asynchronously.
      const out1 = nextMessage(getNode("out"));
      getNode("src").receive({ filename: path, topic: "line 3" });
      const first = await out1;
      const out2 = nextMessage(getNode("out"));
      getNode("src").receive({ payload: path });
      const second = await out2;
      assert.equal(first.topic, "line 3");
      assert.equal(imageOf(first).path, path);
      assert.equal(second.topic, "from-msg.png");
      assert.ok(Buffer.isBuffer(second.payload) && second.payload.equals(png));
    });

    it("reports a missing file through Catch with the message", async function () {
      await load({ mode: "file", path: join(dir, "missing.png") });
      await expectCaught({ _msgid: "m-missing", payload: 1 }, "fileNotFound");
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.ready`, `${TYPE}.status.error`]);
    });

    it("reports a file path missing from both the node and the message", async function () {
      await load({ mode: "file", path: "" });
      await expectCaught({ _msgid: "m-nopath", payload: 42 }, "missingSource");
    });

    it("rejects a truncated PNG as corrupt", async function () {
      writeFileSync(join(dir, "cut.png"), png.subarray(0, 40));
      await load({ mode: "file", path: join(dir, "cut.png") });
      await expectCaught({ _msgid: "m-cut" }, "corruptImage");
    });

    it("rejects an image above the pixel limit", async function () {
      writeFileSync(join(dir, "big.png"), png);
      await load({ mode: "file", path: join(dir, "big.png"), maxPixels: "0.0001" });
      await expectCaught({ _msgid: "m-big" }, "pixelLimit");
    });

    it("returns to ready after an error once an image goes through", async function () {
      const path = join(dir, "later.png");
      await load({ mode: "file", path });
      await expectCaught({ _msgid: "m-1" }, "fileNotFound");
      writeFileSync(path, png);
      const out = collectMessages(getNode("out"), 2);
      getNode("src").receive({});
      getNode("src").receive({});
      await out;
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.ready`, `${TYPE}.status.error`, `${TYPE}.status.ready`]);
    });
  });

  describe("payload mode", function () {
    it("accepts a Buffer and base64 text", async function () {
      await load({ mode: "payload" });
      const out1 = nextMessage(getNode("out"));
      getNode("src").receive({ payload: png });
      const fromBuffer = await out1;
      const out2 = nextMessage(getNode("out"));
      getNode("src").receive({ payload: png.toString("base64") });
      const fromBase64 = await out2;
      assert.ok(Buffer.isBuffer(fromBuffer.payload) && fromBuffer.payload.equals(png));
      assert.equal(imageOf(fromBuffer).buffer, fromBuffer.payload);
      assert.ok(Buffer.isBuffer(fromBase64.payload) && fromBase64.payload.equals(png));
      assert.equal(imageOf(fromBase64).source, "payload");
      assert.equal(imageOf(fromBase64).width, SIZE);
    });

    it("rejects bytes that are not an image", async function () {
      await load({ mode: "payload" });
      await expectCaught({ _msgid: "m-text", payload: Buffer.from("hello, not an image") }, "notAnImage");
    });

    it("refuses SVG from a message (a data: URL included) unless the settings allow it", async function () {
      await load({ mode: "payload" });
      const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>';
      await expectCaught({ _msgid: "m-svg", payload: Buffer.from(svg) }, "unsupportedFormat");
      await expectCaught({ _msgid: "m-svg-url", payload: `data:image/svg+xml,${encodeURIComponent(svg)}` }, "unsupportedFormat");
    });
  });

  describe("folder mode", function () {
    it("emits each existing file once with emitExisting, skipping names that do not match", async function () {
      writeFileSync(join(dir, "a.png"), png);
      writeFileSync(join(dir, "b.PNG"), png);
      writeFileSync(join(dir, "notes.txt"), "not an image");
      await load({ mode: "folder", folder: dir, pattern: "*.png", emitExisting: true, stableMs: STABLE_MS });
      const messages = await collectMessages(getNode("out"), 2);
      assert.deepEqual(messages.map((m) => m.topic).sort(), ["a.png", "b.PNG"]);
      assert.deepEqual(
        messages.map((m) => imageOf(m).source),
        ["folder", "folder"],
      );
      await expectNoMessage(getNode("out"), STABLE_MS * 2);
    });

    it("emits a file written after deploy once, and only when it is complete", async function () {
      await load({ mode: "folder", folder: dir, emitExisting: false, stableMs: STABLE_MS });
      await waitForStatus(getNode("src"), `${TYPE}.status.watching`);
      const path = join(dir, "late.png");
      const half = Math.floor(png.length / 2);
      const out = getNode("out");
      const arrived = nextMessage(out);
      const file = await open(path, "w");
      try {
        await file.write(png.subarray(0, half));
        await expectNoMessage(out, CHUNK_PAUSE_MS);
        await file.write(png.subarray(half));
      } finally {
        await file.close();
      }
      const msg = await arrived;
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(png), "the whole file is sent");
      assert.equal(msg["filename"], path);
      const sourceMs = (msg["timings"] as Record<string, number>)["sourceMs"];
      assert.ok(typeof sourceMs === "number" && sourceMs >= 0, "reading the file is timed (msg.timings.sourceMs)");
      await expectNoMessage(out, STABLE_MS * 2);
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.loading`, `${TYPE}.status.watching`]);
    });

    it("re-emits the files in the folder, sorted by name, on an input message", async function () {
      for (const name of ["c.png", "a.png", "b.png"]) writeFileSync(join(dir, name), png);
      await load({ mode: "folder", folder: dir, emitExisting: false, stableMs: STABLE_MS });
      await waitForStatus(getNode("src"), `${TYPE}.status.watching`);
      const out = collectMessages(getNode("out"), 3);
      getNode("src").receive({ _msgid: "m-list" });
      const messages = await out;
      assert.deepEqual(
        messages.map((m) => m["filename"]),
        ["a.png", "b.png", "c.png"].map((n) => join(dir, n)),
      );
      for (const m of messages) assert.ok(typeof (m["timings"] as Record<string, number>)["sourceMs"] === "number", "each file's read is timed");
      // Each labelled with its own file, not the first one's (the trigger had no topic).
      assert.deepEqual(
        messages.map((m) => m.topic),
        ["a.png", "b.png", "c.png"],
      );
      // A trigger's own topic is kept on every file's message.
      const named = collectMessages(getNode("out"), 3);
      getNode("src").receive({ _msgid: "m-list-2", topic: "station 2" });
      assert.deepEqual(
        (await named).map((m) => m.topic),
        ["station 2", "station 2", "station 2"],
      );
    });

    it("reports a corrupt file in the folder through Catch and goes on watching", async function () {
      await load({ mode: "folder", folder: dir, stableMs: STABLE_MS });
      await waitForStatus(getNode("src"), `${TYPE}.status.watching`);
      const caught = nextMessage(getNode("caught"));
      writeFileSync(join(dir, "broken.png"), png.subarray(0, 40));
      const msg = await caught;
      assert.equal(caughtError(msg).message, `Error: ${TYPE}.errors.corruptImage`);
      assert.equal(msg["filename"], join(dir, "broken.png"));
      assert.equal(typeof msg._msgid, "string");
    });

    it("reports a missing folder at deploy and for an input message", async function () {
      const folder = join(dir, "nope");
      await load({ mode: "folder", folder, stableMs: STABLE_MS });
      const atDeploy = await firstSent(getNode("catcher"));
      assert.equal(caughtError(atDeploy).message, `Error: ${TYPE}.errors.folderNotFound`);
      assert.equal(atDeploy.topic, folder);
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.loading`, `${TYPE}.status.error`]);
      const caught = await caughtFor("m-folder", () => getNode("src").receive({ _msgid: "m-folder" }));
      assert.equal(caughtError(caught).message, `Error: ${TYPE}.errors.folderNotFound`);
    });

    it("stops watching on close: later files produce nothing and no watcher is left", async function () {
      const watchersBefore = activeWatchers();
      await load({ mode: "folder", folder: dir, stableMs: STABLE_MS });
      const node = getNode("src");
      await waitForStatus(node, `${TYPE}.status.watching`);
      assert.ok(activeWatchers() > watchersBefore, "watching uses an fs watcher");
      let sentAfterClose = 0;
      node.send = () => {
        sentAfterClose += 1;
      };
      await helper.unload();
      writeFileSync(join(dir, "after-close.png"), png);
      await delay(STABLE_MS * 2);
      assert.equal(sentAfterClose, 0);
      assert.equal(activeWatchers(), watchersBefore);
    });
  });

  describe("url mode", function () {
    let server: TestServer | undefined;
    afterEach(async function () {
      await server?.close();
      server = undefined;
    });

    it("fetches a snapshot with basic auth and sends it with the URL as topic", async function () {
      const expected = `Basic ${Buffer.from("cam:secret").toString("base64")}`;
      server = await startHttpServer((req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { "content-type": "image/png" }).end(png);
      });
      const url = server.url("/snapshot.png");
      await load({ mode: "url", url, timeout: "2000" }, { src: { user: "cam", password: "secret" } });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({});
      const msg = await out;
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(png));
      assert.equal(msg.topic, url);
      assert.equal(imageOf(msg).url, url);
      assert.equal(imageOf(msg).source, "url");
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.ready`, `${TYPE}.status.busy`, `${TYPE}.status.ready`]);
    });

    it("takes msg.url when the node has none", async function () {
      server = await startHttpServer((_req, res) => res.writeHead(200).end(png));
      await load({ mode: "url", url: "" });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({ url: server.url("/a.png") });
      assert.equal(imageOf(await out).url, server.url("/a.png"));
    });

    it("sends the camera's credentials to a msg.url only on the allowed hosts", async function () {
      const seen: Array<string | undefined> = [];
      server = await startHttpServer((req, res) => {
        seen.push(req.headers.authorization);
        res.writeHead(200).end(png);
      });
      const url = server.url("/a.png");
      const credentials = { src: { user: "cam", password: "secret" } };
      // A URL from a message, no list: fetched without the password.
      await load({ mode: "url", url: "" }, credentials);
      let out = nextMessage(getNode("out"));
      getNode("src").receive({ url });
      await out;
      // The camera's host listed: with it. Another host: refused, nothing sent.
      await helper.unload();
      await load({ mode: "url", url: "", allowedHosts: `other.invalid, ${new URL(url).host}` }, credentials);
      out = nextMessage(getNode("out"));
      getNode("src").receive({ url });
      await out;
      await expectCaught({ _msgid: "m-elsewhere", url: "http://127.0.0.1:1/elsewhere.png" }, "urlNotAllowed");
      assert.deepEqual(seen, [undefined, `Basic ${Buffer.from("cam:secret").toString("base64")}`]);
    });

    it("reports HTTP 404 as fetchStatus", async function () {
      server = await startHttpServer((_req, res) => res.writeHead(404).end("not here"));
      await load({ mode: "url", url: server.url("/missing.png") });
      await expectCaught({ _msgid: "m-404" }, "fetchStatus");
    });

    it("reports a refused connection as fetchFailed", async function () {
      const url = await closedPortUrl("/gone.png");
      // Retries and back-off are in image-source-faults_spec.ts.
      await load({ mode: "url", url, retries: "0" });
      await expectCaught({ _msgid: "m-refused" }, "fetchFailed");
    });

    it("gives up on a server that never answers after the timeout", async function () {
      server = await startHttpServer(() => undefined);
      await load({ mode: "url", url: server.url("/slow.png"), timeout: "200", retries: "0" });
      await expectCaught({ _msgid: "m-slow" }, "fetchTimeout");
    });

    it("stops a download above the size limit", async function () {
      server = await startHttpServer((_req, res) => res.writeHead(200).end(png));
      // 0.0001 MB is 105 bytes, far below the PNG.
      await load({ mode: "url", url: server.url("/big.png"), maxDownload: "0.0001" });
      await expectCaught({ _msgid: "m-large" }, "fetchTooLarge");
    });

    it("aborts a download still running when the node is closed", async function () {
      let requestClosed: () => void = () => undefined;
      const closedByClient = new Promise<void>((resolve) => (requestClosed = resolve));
      let requestSeen: () => void = () => undefined;
      const seen = new Promise<void>((resolve) => (requestSeen = resolve));
      server = await startHttpServer((req) => {
        req.socket.once("close", () => requestClosed());
        requestSeen();
      });
      await load({ mode: "url", url: server.url("/hang.png"), timeout: "60000" });
      getNode("src").receive({});
      await seen;
      await helper.unload();
      await Promise.race([
        closedByClient,
        delay(2000).then(() => {
          throw new Error("the download was not aborted on close");
        }),
      ]);
    });
  });

  describe("configuration", function () {
    it("rejects an invalid timeout at deploy and every message after", async function () {
      await load({ mode: "url", url: "http://127.0.0.1:9/x.png", timeout: "abc" });
      assert.deepEqual(statusTexts(getNode("src")), [`${TYPE}.status.error`]);
      await expectCaught({ _msgid: "m-config" }, "invalidOption");
    });

    it("rejects an unknown mode", async function () {
      await load({ mode: "camera" });
      await expectCaught({ _msgid: "m-mode" }, "invalidOption");
    });
  });

  describe("catalog", function () {
    const keys = catalogKeys("image-source");
    it("has a message for every error code and status the node uses", function () {
      const codes = [
        "invalidOption",
        "missingSource",
        "fileNotFound",
        "fileReadFailed",
        "folderNotFound",
        "watchFailed",
        "fetchFailed",
        "fetchTimeout",
        "fetchStatus",
        "fetchTooLarge",
        "noImageInput",
        "notAnImage",
        "unsupportedFormat",
        "corruptImage",
        "pixelLimit",
        "unexpected",
      ];
      for (const code of codes) assert.ok(keys.has(`${TYPE}.errors.${code}`), code);
      for (const state of ["loading", "ready", "watching", "busy", "error"]) assert.ok(keys.has(`${TYPE}.status.${state}`), state);
    });

    it("has every string the editor asks for", function () {
      for (const key of editorI18nKeys("image-source")) assert.ok(keys.has(key), key);
    });

    it("edits exactly the properties of ImageSourceNodeDef", function () {
      // The compiler checks this list against the interface, the test against the html.
      const defined: EditorKeys<ImageSourceNodeDef> = {
        name: true,
        mode: true,
        path: true,
        root: true,
        pathType: true,
        urlType: true,
        folder: true,
        pattern: true,
        emitExisting: true,
        stableMs: true,
        url: true,
        allowedHosts: true,
        timeout: true,
        maxDownload: true,
        retries: true,
        retryDelay: true,
        maxPixels: true,
        queueSize: true,
        overflow: true,
      };
      assert.deepEqual(editorDefaultKeys("image-source").sort(), Object.keys(defined).sort());
    });
  });
});

/** fs.watch handles of this process (chokidar uses fs.watch on Linux and macOS). */
function activeWatchers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "FSEventWrap").length;
}
