/**
 * The image source reads only where it should, in Node-RED: with an allowed folder, paths from
 * messages that lead out (`..`, elsewhere, a symbolic link) are refused at Catch with a red
 * status and the next good path still works; a watched folder does not follow a link out of it;
 * files above Max size are refused before they are read. Texts are the en-US catalog's.
 */
import assert from "node:assert/strict";
import { mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng, noiseImage } from "../fixtures/images";
import {
  caughtError,
  caughtFor,
  catchAll,
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
const node = withCatalog(imageSourceNode, catalogTranslator("image-source"));
const STABLE_MS = 200;

async function load(config: Partial<ImageSourceNodeDef>): Promise<void> {
  const source: FlowItem<ImageSourceNodeDef> = { id: "src", type: TYPE, wires: [["out"]], ...config };
  await helper.load(node, onTab([source, { id: "out", type: "helper" }, ...catchAll()]));
}

describe("defect-image-source keeps to its folders and size limit", function () {
  const userDir = useNodeRedHelper();
  let png: Buffer;
  let allowed = "";
  let outside = "";

  before(async function () {
    png = await encodePng(noiseImage(20, 10));
  });
  beforeEach(function () {
    const base = realpathSync(userDir());
    allowed = join(base, "parts");
    outside = join(base, "private");
    rmSync(allowed, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
    mkdirSync(allowed, { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(allowed, "good.png"), png);
    writeFileSync(join(outside, "secret.png"), png);
  });

  describe("file mode with an allowed folder", function () {
    it("reads a relative msg.filename from the allowed folder", async function () {
      await load({ mode: "file", root: "parts" });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({ filename: "good.png" });
      const msg = await out;
      assert.equal(msg["filename"], join(allowed, "good.png"));
      assert.ok(Buffer.isBuffer(msg.payload) && msg.payload.equals(png));
    });

    it("refuses .., another absolute path and a symbolic link out, then reads a good path", async function () {
      symlinkSync(join(outside, "secret.png"), join(allowed, "shortcut.png"));
      await load({ mode: "file", root: allowed });
      const src = getNode("src");
      const cases: [string, string][] = [
        ["../private/secret.png", `Error: ../private/secret.png is outside the allowed folder ${allowed}: the path leads out of it`],
        [join(outside, "secret.png"), `Error: ${join(outside, "secret.png")} is outside the allowed folder ${allowed}: the path leads out of it`],
        ["shortcut.png", `Error: shortcut.png is outside the allowed folder ${allowed}: a symbolic link leads out of it`],
      ];
      for (const [index, [filename, text]] of cases.entries()) {
        const caught = await caughtFor(`m${index}`, () => src.receive({ _msgid: `m${index}`, filename }));
        assert.equal(caughtError(caught).code, "pathOutsideFolder");
        assert.equal(caughtError(caught).message, text);
        assert.equal(statusTexts(src).at(-1), `${TYPE}.status.error`);
      }
      const out = nextMessage(getNode("out"));
      src.receive({ filename: "good.png" });
      assert.equal((await out)["filename"], join(allowed, "good.png"));
      assert.equal(statusTexts(src).at(-1), `${TYPE}.status.ready`);
    });

    it("without an allowed folder, reads any path as before (the flow's author decides)", async function () {
      await load({ mode: "file" });
      const out = nextMessage(getNode("out"));
      getNode("src").receive({ filename: join(outside, "secret.png") });
      assert.equal((await out)["filename"], join(outside, "secret.png"));
    });
  });

  describe("watched folder", function () {
    it("does not follow a symbolic link out of the folder, and still sends real files", async function () {
      await load({ mode: "folder", folder: allowed, pattern: "*.png", stableMs: String(STABLE_MS) });
      const src = getNode("src");
      await waitForStatus(src, `${TYPE}.status.watching`);
      const caught = nextMessage(getNode("caught"));
      symlinkSync(join(outside, "secret.png"), join(allowed, "planted.png"));
      const error = caughtError(await caught);
      assert.equal(error.code, "pathOutsideFolder");
      assert.equal(error.message, `Error: ${join(allowed, "planted.png")} is outside the allowed folder ${allowed}: a symbolic link leads out of it`);
      const out = nextMessage(getNode("out"));
      writeFileSync(join(allowed, "next.png"), png);
      assert.equal((await out)["filename"], join(allowed, "next.png"));
      await expectNoMessage(getNode("out"), STABLE_MS * 2);
    });
  });

  describe("Max size", function () {
    it("refuses a file above Max size before reading it, in file and folder modes", async function () {
      // 0.0001 MB is 105 bytes, below the PNG.
      await load({ mode: "file", maxDownload: "0.0001" });
      const caught = await caughtFor("big", () => getNode("src").receive({ _msgid: "big", filename: join(allowed, "good.png") }));
      assert.equal(caughtError(caught).code, "fileTooLarge");
      assert.equal(caughtError(caught).message, `Error: Image file ${join(allowed, "good.png")} exceeds the limit of 105 bytes (${png.length} bytes)`);
      await helper.unload();

      await load({ mode: "folder", folder: allowed, maxDownload: "0.0001", stableMs: String(STABLE_MS) });
      const listed = await caughtFor("list", () => getNode("src").receive({ _msgid: "list" }));
      assert.equal(caughtError(listed).code, "fileTooLarge");
      assert.equal(listed["filename"], join(allowed, "good.png"));
    });
  });
});
