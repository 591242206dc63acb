/**
 * msg.command "reload" on the detector: the model waiting at <id>.incoming.ddm (where a model
 * share writes a received model) is loaded and checked first; only then does it become the
 * saved model and the one inspecting. A model of another backbone is refused (modelMismatch),
 * deleted, and the detector goes on with the model it had; nothing waiting is fileNotFound.
 */
import assert from "node:assert/strict";
import { copyFile, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import { parseModelFile, writeModelFile } from "../../src/lib/persist";
import { deriveSeed } from "../../src/lib/random";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import { catalogTranslator, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import { catchAll, caughtError, getNode, helper, nextMessage, onTab, useNodeRedHelper, type FlowItem } from "../fixtures/node-red";

const KIND = "printed-pattern";
const SIZE = 64;
const WAIT_MS = 20_000;
const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });
const node = withCatalog(detectorNode, catalogTranslator("detector"));

async function sample(seed: number): Promise<NodeMessage> {
  const { tensor, transform } = await preprocessImage(await encodePng(generateGood(KIND, deriveSeed(3, KIND, seed), SIZE)), OPTIONS, { maxPixels: 1e8 });
  return { payload: tensor, transform, preprocessing: { ...OPTIONS } } as NodeMessage;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe("defect-detector node: reload a model made elsewhere", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  const file = (name: string): string => join(userDir(), "defect-detection", name);

  async function send(id: string, msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode(`${id}Out`), WAIT_MS);
    getNode(id).receive(msg);
    return out;
  }

  it("takes a matching model only after it loaded, keeps its model when the next one is refused", async function () {
    const template = { type: "defect-detector", setting: "unsupervised", method: "template", trainCount: "1" };
    const flow = [
      { id: "line", ...template, wires: [["lineOut"]] },
      { id: "lineOut", type: "helper" },
      { id: "worker", ...template, wires: [["workerOut"]] },
      { id: "workerOut", type: "helper" },
      ...catchAll(),
    ];
    await helper.load(node, onTab(flow as FlowItem[]));
    const learned = await send("line", { ...(await sample(1)), learn: true });
    const created = ((learned.payload as Record<string, unknown>)["model"] as Record<string, unknown>)["created"];
    assert.equal(typeof created, "string");

    const nothing = nextMessage(getNode("caught"), WAIT_MS);
    getNode("worker").receive({ command: "reload" } as NodeMessage);
    assert.equal(caughtError(await nothing).code, "fileNotFound", "nothing waits to be loaded");

    await copyFile(file("line.ddm"), file("worker.incoming.ddm"));
    const answer = await send("worker", { command: "reload" } as NodeMessage);
    assert.equal((answer.payload as Record<string, unknown>)["command"], "reload");
    assert.equal(((answer.payload as Record<string, unknown>)["model"] as Record<string, unknown>)["created"], created);
    assert.deepEqual(await readFile(file("worker.ddm")), await readFile(file("line.ddm")), "the saved model is the line's, byte for byte");
    assert.equal(await exists(file("worker.incoming.ddm")), false);
    const inspected = await send("worker", await sample(2));
    assert.equal(((inspected.payload as Record<string, unknown>)["model"] as Record<string, unknown>)["created"], created);

    // The same model, learned with another backbone as far as its record says.
    const parsed = await parseModelFile(await readFile(file("line.ddm")), "line.ddm");
    const backbone = parsed.metadata["backbone"] as Record<string, unknown>;
    await writeModelFile(file("worker.incoming.ddm"), {
      metadata: { ...parsed.metadata, created: "2001-01-01T00:00:00.000Z", backbone: { ...backbone, sha256: "f".repeat(64) } },
      sections: parsed.sections,
    });
    const refused = nextMessage(getNode("caught"), WAIT_MS);
    getNode("worker").receive({ command: "reload" } as NodeMessage);
    const error = caughtError(await refused);
    assert.equal(error.code, "modelMismatch");
    assert.match(error.message, /backbone/);
    assert.equal(await exists(file("worker.incoming.ddm")), false, "the refused file is deleted");
    assert.deepEqual(await readFile(file("worker.ddm")), await readFile(file("line.ddm")), "the saved model is untouched");
    const after = await send("worker", await sample(3));
    assert.equal(((after.payload as Record<string, unknown>)["model"] as Record<string, unknown>)["created"], created, "and it still inspects");
  });
});
