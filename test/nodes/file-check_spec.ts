/**
 * The dialogs' file hints: GET /defect-detection/file-check resolves a path as the runtime
 * does (relative to the user directory) and says whether a file or a folder is there.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import imageSourceNode from "../../src/nodes/image-source";
import type { ImageSourceNodeDef } from "../../src/nodes/image-source-def";
import { helper, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

describe("file check for the edit dialogs", function () {
  const userDir = useNodeRedHelper();

  beforeEach(async function () {
    const config: Partial<ImageSourceNodeDef> = { mode: "payload" };
    await helper.load(imageSourceNode, onTab([{ id: "src", type: "defect-image-source", wires: [[]], ...config } as FlowItem]));
  });

  async function check(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await helper.request().get(`/defect-detection/file-check?path=${encodeURIComponent(path)}`);
    return { status: res.status, body: res.body as Record<string, unknown> };
  }

  it("finds a file and a folder relative to the user directory, and names the absolute path", async function () {
    mkdirSync(join(userDir(), "models"), { recursive: true });
    writeFileSync(join(userDir(), "models", "part.onnx"), "x");
    assert.deepEqual(await check("models/part.onnx"), { status: 200, body: { path: join(userDir(), "models", "part.onnx"), exists: true, kind: "file" } });
    assert.deepEqual(await check(join(userDir(), "models")), { status: 200, body: { path: join(userDir(), "models"), exists: true, kind: "folder" } });
  });

  it("says which path is missing", async function () {
    assert.deepEqual(await check("exports/model.onnx"), { status: 200, body: { path: join(userDir(), "exports", "model.onnx"), exists: false, kind: null } });
  });

  it("refuses an empty path", async function () {
    assert.equal((await check(" ")).status, 400);
  });
});
