/**
 * defect-detector with method "template" end to end in Node-RED: references learned by message,
 * an aligned defective copy found where its defect is, a shifted good copy scoring low, the
 * right reference picked among several (and named), a learned reference sent again compared
 * with another of its design, the saved references reloaded after a restart, and every bad
 * input through Catch. The parts are the package's synthetic printed labels (synth), preprocessed
 * by the real preprocess core at their own size, as the help recommends.
 */
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { MessageScoreMap, PreprocessOptions, RawImage, Tensor, Transform } from "../../src/lib/image/types";
import { generateDefect, generateGood } from "../../src/offline/synth";
import { deriveSeed } from "../../src/lib/random";
import { liveTemplateWorkers } from "../../src/lib/detector/methods/template-thread";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { catalogTranslator, statusText, withCatalog } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  getNode,
  helper,
  nextMessage,
  onTab,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";

const TYPE = "defect-detector";
const KIND = "printed-pattern";
const SIZE = 160;
const LIMITS = { maxPixels: 1e8 };
/** Starting the comparison worker and a few comparisons of 160 px parts; loaded CI machines get room. */
const WAIT_MS = 20_000;
/** The template method's operating point (template-score.ts): the threshold node's fixed default. */
const OPERATING_POINT = 0.5;

const translate = catalogTranslator("detector");
const node = withCatalog(detectorNode, translate);
const status = statusText(TYPE, translate);

interface Prepared {
  tensor: Tensor;
  transform: Transform;
  preprocessing: PreprocessOptions;
}

interface TemplatePayload {
  score: number;
  method: string;
  model: Record<string, string | number>;
  reference: { index: number; name: string; similarity: number; copyOf?: number };
}

const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE });

async function prepare(image: RawImage, options = OPTIONS): Promise<Prepared> {
  const { tensor, transform } = await preprocessImage(await encodePng(image), options, LIMITS);
  return { tensor, transform, preprocessing: options };
}

function msgOf(p: Prepared, extra: Record<string, unknown> = {}): NodeMessage {
  return { payload: p.tensor, transform: p.transform, preprocessing: { ...p.preprocessing }, ...extra };
}

function good(seed: number): RawImage {
  return generateGood(KIND, deriveSeed(7, KIND, seed), SIZE);
}

/** The image moved by (dx, dy) pixels, the border repeated: the same part lying a little elsewhere. */
function shifted(image: RawImage, dx: number, dy: number): RawImage {
  const { width, height, channels } = image;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(height - 1, Math.max(0, y - dy));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(width - 1, Math.max(0, x - dx));
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = image.data[(sy * width + sx) * channels + c] as number;
    }
  }
  return { ...image, data };
}

/** Turned by 90 degrees: the same label laid out another way, i.e. another design to compare with. */
function turned(image: RawImage): RawImage {
  const { width, height, channels } = image;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) data[(x * width + (width - 1 - y)) * channels + c] = image.data[(y * width + x) * channels + c] as number;
    }
  }
  return { ...image, data };
}

function peakAt(map: MessageScoreMap): { x: number; y: number; value: number } {
  let best = 0;
  for (let i = 1; i < map.data.length; i++) if ((map.data[i] as number) > (map.data[best] as number)) best = i;
  return { x: best % map.width, y: Math.floor(best / map.width), value: map.data[best] as number };
}

describe("defect-detector node: template comparison", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  let reference: Prepared;
  let otherPart: Prepared;
  let defective: Prepared;
  let defectMask: RawImage;
  let moved: Prepared;
  let turnedReference: Prepared;
  let turnedPart: Prepared;

  const modelFile = (): string => join(userDir(), "defect-detection", "det.ddm");
  const template = (config: Partial<DetectorNodeDef> = {}): Partial<DetectorNodeDef> => ({ setting: "unsupervised", method: "template", ...config });

  async function load(config: Partial<DetectorNodeDef>): Promise<void> {
    const det: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, wires: [["out"]], ...config };
    await helper.load(node, onTab([det, { id: "out", type: "helper" }, ...catchAll()]));
  }

  const det = () => getNode("det");

  async function send(msg: NodeMessage): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"), WAIT_MS);
    det().receive(msg);
    return out;
  }

  async function inspect(p: Prepared, extra: Record<string, unknown> = {}): Promise<{ payload: TemplatePayload; map: MessageScoreMap }> {
    const out = await send(msgOf(p, extra));
    return { payload: out.payload as TemplatePayload, map: out["anomalyMap"] as MessageScoreMap };
  }

  async function learn(samples: ReadonlyArray<[Prepared, string]>): Promise<NodeMessage[]> {
    const outs = collectMessages(getNode("out"), samples.length, WAIT_MS);
    for (const [p, filename] of samples) det().receive(msgOf(p, { learn: true, filename }));
    return outs;
  }

  async function expectCaught(msg: NodeMessage, code: string, message?: string): Promise<NodeMessage> {
    const caught = nextMessage(getNode("caught"), WAIT_MS);
    det().receive({ _msgid: `m-${code}`, ...msg });
    const result = await caught;
    assert.equal(caughtError(result).code, code, caughtError(result).message);
    if (message !== undefined) assert.equal(caughtError(result).message, `Error: ${message}`);
    assert.equal(result._msgid, `m-${code}`, "the failed message itself reaches Catch");
    return result;
  }

  before(async function () {
    const golden = good(1);
    reference = await prepare(golden);
    otherPart = await prepare(good(2));
    moved = await prepare(shifted(golden, 3, -2));
    const sample = generateDefect(KIND, "hole", deriveSeed(7, KIND, "hole"), SIZE);
    defective = await prepare(sample.image);
    defectMask = sample.mask;
    turnedReference = await prepare(turned(good(3)));
    turnedPart = await prepare(turned(good(4)));
  });

  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  describe("learning references and inspecting", function () {
    it("learns one reference (Learn defaults to 1), finds an aligned defect where it is and scores good parts low", async function () {
      await load(template());
      const [learned] = await learn([[reference, "/parts/golden.png"]]);
      const answer = learned!.payload as { learning: boolean; count: number; total: number; model: Record<string, unknown> };
      assert.deepEqual([answer.learning, answer.count, answer.total], [true, 1, 1]);
      assert.deepEqual({ ...answer.model, created: "" }, { references: 1, trainedOn: 1, created: "", threshold: OPERATING_POINT });
      await waitForStatus(det(), status("ready"));

      const bad = await inspect(defective);
      assert.equal(bad.payload.method, "template");
      assert.deepEqual({ ...bad.payload.reference, similarity: 0 }, { index: 0, name: "golden.png", similarity: 0 });
      assert.ok(bad.payload.score >= OPERATING_POINT, `defect score ${bad.payload.score}`);
      // The map is on the original image's pixels (the transform is the identity here) and peaks inside the defect.
      assert.deepEqual([bad.map.width, bad.map.height, bad.map.space], [SIZE, SIZE, "original"]);
      const peak = peakAt(bad.map);
      assert.equal(peak.value, bad.payload.score, "the score is the map's peak");
      assert.ok((defectMask.data[peak.y * SIZE + peak.x] as number) > 0, `peak at ${peak.x},${peak.y} outside the defect`);

      for (const [what, part] of [
        ["another good part", otherPart],
        ["the reference shifted by (3, -2) px", moved],
      ] as const) {
        const result = await inspect(part);
        assert.ok(
          result.payload.score < OPERATING_POINT && result.payload.score < bad.payload.score / 2,
          `${what}: ${result.payload.score} vs defect ${bad.payload.score}`,
        );
        assert.equal(result.payload.reference.index, 0);
      }
    });

    it("picks the matching reference among several, names it, and compares a learned reference sent again with another of its design", async function () {
      await load(template({ trainCount: "3" }));
      await learn([
        [reference, "/parts/label-a.png"],
        [otherPart, "/parts/label-b.png"],
        [turnedReference, "/parts/label-turned.png"],
      ]);
      await waitForStatus(det(), status("ready"));
      const upright = await inspect(defective);
      assert.equal(
        upright.payload.reference.name === "label-a.png" || upright.payload.reference.name === "label-b.png",
        true,
        JSON.stringify(upright.payload.reference),
      );
      assert.ok(upright.payload.score >= OPERATING_POINT);
      const sideways = await inspect(turnedPart);
      assert.deepEqual([sideways.payload.reference.index, sideways.payload.reference.name], [2, "label-turned.png"]);
      assert.ok(sideways.payload.score < OPERATING_POINT, `a good part of the turned design: ${sideways.payload.score}`);
      assert.ok(sideways.payload.reference.similarity > upright.payload.reference.similarity - 1);

      // Reference 0 sent again: compared with reference 1 (same design), not with itself.
      const again = await inspect(reference);
      assert.deepEqual([again.payload.reference.copyOf, again.payload.reference.index], [0, 1]);
      assert.ok(again.payload.score < OPERATING_POINT);
      // Reference 2 has no other of its design: compared with itself, nothing differs.
      const alone = await inspect(turnedReference);
      assert.deepEqual([alone.payload.reference.copyOf, alone.payload.reference.index, alone.payload.score], [2, 2, 0]);
    });
  });

  describe("the saved references", function () {
    it("are loaded again after a restart, with their names, and give the same answers", async function () {
      await load(template({ trainCount: "2" }));
      await learn([
        [reference, "/parts/label-a.png"],
        [turnedReference, "/parts/label-turned.png"],
      ]);
      const before = await inspect(defective);
      assert.equal(liveTemplateWorkers(), 1, "one comparison worker while the node runs");
      await helper.unload();
      assert.equal(liveTemplateWorkers(), 0, "closing the node ends its worker");

      await load(template({ trainCount: "2" }));
      await waitForStatus(det(), status("ready"));
      const after = await inspect(defective);
      assert.deepEqual(after.payload.reference, before.payload.reference);
      assert.equal(after.payload.score, before.payload.score);
      assert.equal(after.payload.model["references"], 2);
      await helper.unload();
      assert.equal(liveTemplateWorkers(), 0);
    });

    it("refuse a damaged file with a clear error and keep it", async function () {
      await load(template());
      await learn([[reference, "/parts/golden.png"]]);
      await helper.unload();
      const whole = await readFile(modelFile());
      const damaged = Buffer.from(whole);
      damaged[damaged.length - 100] = (damaged[damaged.length - 100] as number) ^ 0xff;
      await writeFile(modelFile(), damaged);
      await load(template());
      await waitForStatus(det(), status("fileError"));
      const caught = await expectCaught(msgOf(defective), "modelFileInvalid");
      assert.ok(caughtError(caught).message.includes("the checksum does not match"), caughtError(caught).message);
      assert.ok((await readFile(modelFile())).equals(damaged), "the file is untouched");
    });

    it("refuse another method's file as a mismatch", async function () {
      await load(template());
      await learn([[reference, "/parts/golden.png"]]);
      await helper.unload();
      await load({ setting: "unsupervised", method: "padim", backbone: "embedded", layers: "stage2,stage3" });
      await waitForStatus(det(), status("mismatch"));
      const caught = await expectCaught(msgOf(defective), "modelMismatch");
      assert.ok(caughtError(caught).message.includes("method: saved template, now padim"), caughtError(caught).message);
    });
  });

  describe("errors reach Catch with the message", function () {
    it("an inspection before any reference is learned", async function () {
      await load(template());
      await expectCaught(msgOf(defective), "notTrained", "no model yet: learn good images first (msg.learn = true)");
    });

    it("a payload that is not a tensor", async function () {
      await load(template());
      await expectCaught({ payload: Buffer.from("png?") }, "noTensorInput");
      await expectCaught({ payload: { data: [1, 2, 3], dims: [1, 1, 1, 3], layout: "NCHW" } }, "noTensorInput");
    });

    it("a part of another size than the references, to inspect or to learn", async function () {
      await load(template());
      await learn([[reference, "/parts/golden.png"]]);
      const small = await prepare(good(5), parsePreprocessOptions({ preset: "imagenet", width: 96, height: 96 }));
      await expectCaught(
        { payload: small.tensor },
        "inputShapeMismatch",
        "The input does not fit the model: the tensor is NCHW [1,3,96,96] but the model was learned on NCHW [1,3,160,160]: preprocess every image the same way",
      );
      await expectCaught(msgOf(small, { learn: true }), "inputShapeMismatch");
    });

    it("a part too small to compare", async function () {
      await load(template());
      const tiny = await prepare(good(6), parsePreprocessOptions({ preset: "imagenet", width: 8, height: 8 }));
      await expectCaught(msgOf(tiny, { learn: true }), "imageTooSmall");
    });

    it("out-of-range template options at deploy", async function () {
      await load(template({ templateTolerance: "9" }));
      await waitForStatus(det(), status("error"));
      await expectCaught(msgOf(defective), "invalidOption");
    });
  });
});
