/**
 * The bad-input corpus (test/fixtures/bad-corpus.ts) through a whole flow: image source (payload
 * and file modes) -> preprocess -> detector, with a Catch node. Every bad case must end in one
 * catchable error with the documented code and a message naming the problem, a red status on
 * the node that refused it, and the next good image must be inspected normally. Unusual but
 * valid images (16-bit, CMYK, alpha, EXIF-rotated, 1x1, 1x100000) must simply work. Broken
 * model files at deploy and damaged memory banks are refused the same way.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeAPI, NodeMessage } from "node-red";
import type { ImageInfo, Tensor, Transform } from "../../src/lib/image/types";
import { readModelFile } from "../../src/lib/persist";
import { generateGood } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import imageSourceNode from "../../src/nodes/image-source";
import preprocessNode from "../../src/nodes/preprocess";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import {
  ALPHA_GRAY,
  BOMB_SIDE,
  DEEP_LEVEL,
  EXIF_ORIENTATION,
  EXIF_STORED,
  SMALL_SIDE,
  TALL_HEIGHT,
  WRONG_PAYLOADS,
  buildImageCorpus,
  buildUnknownFormatModel,
  truncateModelFile,
  withModelFileVersion,
  wrongShapeTensors,
  writeImageCorpus,
  writeRandomOnnx,
  type ImageCase,
  type ImageCorpus,
} from "../fixtures/bad-corpus";
import { encodePng, tensorAt } from "../fixtures/images";
import { catchAll, caughtError, getNode, helper, nextMessage, onTab, statusCalls, useNodeRedHelper, waitForStatus, type FlowItem } from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";
import { catalogTranslator } from "../fixtures/catalog";

const SOURCE = "defect-image-source";
const PREPROCESS = "defect-preprocess";
const DETECTOR = "defect-detector";
const KIND = "cast-surface";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
const TRAIN = 2;
/** The image source's default limit (50 megapixels), in pixels. */
const DEFAULT_MAX_PIXELS = 50_000_000;
/** Fits of a few hundred patches take well under a second; loaded CI machines get room. */
const FIT_WAIT_MS = 15_000;
/** ImageNet normalisation of channel 0 (R): (v - 0.485) / 0.229. */
const normR = (v: number): number => (v - 0.485) / 0.229;
const normG = (v: number): number => (v - 0.456) / 0.224;
const normB = (v: number): number => (v - 0.406) / 0.225;
/** Lowest red level accepted for the CMYK case's pure red after the profile round trip. */
const CMYK_RED_MIN = 200 / 255;
const MAX_16_BIT = 65_535;
/** Float32 and resampling of a constant image. */
const CLOSE = 1e-3;
/** JPEG round trips of pure colours stay within a few levels. */
const JPEG_LEVELS = 8 / 255;

const translate = catalogTranslator("image-source", "preprocess", "detector");

const NODES = [imageSourceNode, preprocessNode, detectorNode].map((register) => (RED: NodeAPI): void => {
  (RED as unknown as { _: typeof translate })._ = translate;
  register(RED);
});

interface SentImage extends ImageInfo {
  source: string;
}

interface Inspection {
  score: number;
  method: string;
  model: Record<string, unknown>;
}

/** Which node refuses a case, with what code and text; `where` names the image as the node does. */
interface Refusal {
  node: string;
  code: string;
  message: (where: string) => string | RegExp;
}

const PAYLOAD = "msg.payload";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
/** In the image tables: the refusing node is the image source the case was sent into. */
const SENT_TO = "(the image source)";
/** Numbers the refused messages, so each Catch is matched to its own message. */
let refusedCount = 0;

describe("bad input through a whole flow", function () {
  this.timeout(60_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  let corpus: ImageCorpus;
  let paths: Record<ImageCase, string>;
  let good: Buffer[] = [];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-bad-input-"));
    backbone = await writeTinyBackbone(dir);
    corpus = await buildImageCorpus();
    paths = await writeImageCorpus(dir, corpus);
    good = await Promise.all([1, 2, 3].map((seed) => encodePng(generateGood(KIND, seed, SOURCE_SIZE))));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const patchcore = (config: Partial<DetectorNodeDef> = {}): Partial<DetectorNodeDef> => ({
    backbone,
    layers: "l1,l2",
    trainCount: String(TRAIN),
    ...config,
  });

  /** Both image sources feed one preprocess, which feeds the detector and a probe of its tensor. */
  async function load(detector: Partial<DetectorNodeDef>, detId = "det", size = TENSOR_SIZE): Promise<void> {
    const flow: FlowItem[] = [
      { id: "srcP", type: SOURCE, mode: "payload", wires: [["pre"]] } as FlowItem,
      { id: "srcF", type: SOURCE, mode: "file", path: "", wires: [["pre"]] } as FlowItem,
      { id: "pre", type: PREPROCESS, preset: "imagenet", width: String(size), height: String(size), wires: [[detId, "preOut"]] } as FlowItem,
      { id: detId, type: DETECTOR, wires: [["out"]], ...detector } as FlowItem,
      { id: "preOut", type: "helper" },
      { id: "out", type: "helper" },
      ...catchAll(),
    ];
    await helper.load(NODES, onTab(flow));
  }

  const modelFile = (detId: string): string => join(userDir(), "defect-detection", `${detId}.ddm`);

  function lastFill(id: string): string | undefined {
    return statusCalls(getNode(id)).at(-1)?.fill;
  }

  /** Sends `msg` into node `into`; resolves with what the detector sends. */
  async function inspect(into: string, msg: NodeMessage, timeoutMs?: number): Promise<NodeMessage> {
    const out = nextMessage(getNode("out"), timeoutMs);
    getNode(into).receive(msg);
    return out;
  }

  async function learn(detId: string, images: readonly Buffer[]): Promise<void> {
    for (const image of images) {
      const answer = await inspect("srcP", { payload: image, learn: true }, FIT_WAIT_MS);
      assert.equal((answer.payload as { learning: boolean }).learning, true);
    }
    await waitForStatus(getNode(detId), `${DETECTOR}.status.ready`, FIT_WAIT_MS);
  }

  /** The shared model of the corpus tests: learned through the flow once, then loaded at deploy. */
  async function loadLearned(): Promise<void> {
    const learned = await readFile(modelFile("det")).then(
      () => true,
      () => false,
    );
    await load(patchcore());
    if (learned) await waitForStatus(getNode("det"), `${DETECTOR}.status.ready`);
    else await learn("det", good.slice(0, TRAIN));
  }

  /** Sends `msg` into `into`; the Catch node must get exactly that message with `refusal`. */
  async function expectRefused(into: string, msg: NodeMessage, refusal: Refusal, where: string): Promise<NodeMessage> {
    const msgid = `bad-${++refusedCount}`;
    const caught = nextMessage(getNode("caught"), FIT_WAIT_MS);
    getNode(into).receive({ ...msg, _msgid: msgid });
    const result = await caught;
    const error = caughtError(result);
    assert.equal(error.code, refusal.code, error.message);
    assert.equal(error.source.id, refusal.node, `refused by ${error.source.id}: ${error.message}`);
    const expected = refusal.message(where);
    if (typeof expected === "string") assert.equal(error.message, `Error: ${expected}`);
    else assert.match(error.message, expected);
    assert.equal(result._msgid, msgid, "the failed message itself reaches Catch");
    assert.equal(lastFill(refusal.node), "red", "the refusing node shows a red status");
    return result;
  }

  /** The next good image is inspected as usual and every node is green again. */
  async function expectGoodNext(): Promise<Inspection> {
    const answer = await inspect("srcP", { payload: good[2] });
    const payload = answer.payload as Inspection;
    assert.equal(payload.method, "patchcore");
    assert.ok(Number.isFinite(payload.score) && payload.score >= 0, `score ${payload.score}`);
    assert.equal(payload.model["trainedOn"], TRAIN);
    for (const id of ["srcP", "pre", "det"]) assert.equal(lastFill(id), "green", `${id} is green again`);
    return payload;
  }

  describe("damaged and hostile images: one clear error, then the next image works", function () {
    const refusals: Partial<Record<ImageCase, Refusal>> = {
      truncatedJpeg: {
        node: "pre",
        code: "corruptImage",
        message: () => /^Error: The image is corrupt or truncated: The jpeg image could not be decoded: VipsJpeg: premature end of JPEG image/,
      },
      truncatedPng: {
        node: "pre",
        code: "corruptImage",
        message: () => /^Error: The image is corrupt or truncated: The png image could not be decoded: .*libpng read error/,
      },
      randomBytes: { node: SENT_TO, code: "notAnImage", message: (where) => `${where} is not an image (Input buffer contains unsupported image format)` },
      bomb: {
        node: SENT_TO,
        code: "pixelLimit",
        message: (where) => `${where}: image of ${BOMB_SIDE}x${BOMB_SIDE} exceeds the limit of ${DEFAULT_MAX_PIXELS} pixels`,
      },
      textAsPng: { node: SENT_TO, code: "notAnImage", message: (where) => `${where} is not an image (Input buffer contains unsupported image format)` },
    };

    for (const mode of ["payload", "file"] as const) {
      const into = mode === "payload" ? "srcP" : "srcF";
      for (const [name, refusal] of Object.entries(refusals) as Array<[ImageCase, Refusal]>) {
        it(`${name} (${mode} mode)`, async function () {
          await loadLearned();
          const msg: NodeMessage = mode === "payload" ? { payload: corpus[name] } : { filename: paths[name] };
          const where = mode === "payload" ? PAYLOAD : paths[name];
          const caught = await expectRefused(into, msg, { ...refusal, node: refusal.node === SENT_TO ? into : refusal.node }, where);
          // Nodes after the source do not repeat the path: the caught message carries it.
          if (mode === "file") assert.equal(caught["filename"], paths[name]);
          await expectGoodNext();
        });
      }
    }

    it("a zero-byte payload and a zero-byte file", async function () {
      await loadLearned();
      await expectRefused(
        "srcP",
        { payload: corpus.empty },
        {
          node: "srcP",
          code: "noImageInput",
          message: () => "msg.payload holds no image: expected a Buffer, base64 text or a data: URL, got empty Buffer",
        },
        PAYLOAD,
      );
      await expectGoodNext();
      await expectRefused(
        "srcF",
        { filename: paths.empty },
        {
          node: "srcF",
          code: "notAnImage",
          message: (where) => `${where} is not an image (Input Buffer is empty)`,
        },
        paths.empty,
      );
      await expectGoodNext();
    });

    for (const wrong of WRONG_PAYLOADS) {
      it(`msg.payload of the wrong type: ${wrong.name}, at every node`, async function () {
        await loadLearned();
        await expectRefused(
          "srcP",
          { payload: wrong.value },
          {
            node: "srcP",
            code: "noImageInput",
            message: () => `msg.payload holds no image: expected a Buffer, base64 text or a data: URL, got ${wrong.type}`,
          },
          PAYLOAD,
        );
        await expectRefused(
          "srcF",
          { payload: wrong.value },
          {
            node: "srcF",
            code: "missingSource",
            message: () => "No path given: set it in the node or send msg.filename",
          },
          PAYLOAD,
        );
        await expectRefused(
          "pre",
          { payload: wrong.value },
          {
            node: "pre",
            code: "noImageInput",
            message: () => `No image in msg.image.buffer or msg.payload: expected a Buffer, base64 text or a data: URL, got ${wrong.type}`,
          },
          PAYLOAD,
        );
        await expectRefused(
          "det",
          { payload: wrong.value },
          {
            node: "det",
            code: "noTensorInput",
            message: () => `msg.payload is not a tensor from the preprocess node: ${wrong.tensorReason}`,
          },
          PAYLOAD,
        );
        await expectGoodNext();
      });
    }

    it("tensors holding NaN or an infinity, inspected or learned", async function () {
      await loadLearned();
      for (const [value, at, learn] of [
        [Number.NaN, 5, false],
        [Number.POSITIVE_INFINITY, 0, true],
        [Number.NEGATIVE_INFINITY, 3 * TENSOR_SIZE * TENSOR_SIZE - 1, false],
      ] as const) {
        const data = new Float32Array(3 * TENSOR_SIZE * TENSOR_SIZE);
        data[at] = value;
        const tensor = { data, dims: [1, 3, TENSOR_SIZE, TENSOR_SIZE], layout: "NCHW" };
        await expectRefused(
          "det",
          { payload: tensor, ...(learn ? { learn: true } : {}) },
          {
            node: "det",
            code: "noTensorInput",
            message: () =>
              `msg.payload is not a tensor from the preprocess node: value ${at} is ${String(value)}: NaN and infinities are refused before anything is learned or scored`,
          },
          PAYLOAD,
        );
      }
      await expectGoodNext();
    });

    it("tensors of the wrong shape", async function () {
      await loadLearned();
      const [short, flat] = wrongShapeTensors(TENSOR_SIZE);
      await expectRefused(
        "det",
        { payload: short!.tensor },
        {
          node: "det",
          code: "noTensorInput",
          message: () =>
            `msg.payload is not a tensor from the preprocess node: ${3 * TENSOR_SIZE * TENSOR_SIZE - 1} values do not fill dims [1,3,${TENSOR_SIZE},${TENSOR_SIZE}]`,
        },
        PAYLOAD,
      );
      await expectRefused(
        "det",
        { payload: flat!.tensor },
        {
          node: "det",
          code: "noTensorInput",
          message: () => `msg.payload is not a tensor from the preprocess node: dims [${TENSOR_SIZE},${TENSOR_SIZE}] are not four positive integers`,
        },
        PAYLOAD,
      );
      // Through the flow: the preprocess node makes a 32 px tensor for this message only.
      await expectRefused(
        "srcP",
        { payload: good[0], preprocess: { width: 32, height: 32 } },
        {
          node: "det",
          code: "inputShapeMismatch",
          message: () =>
            "The input does not fit the model: the tensor is NCHW [1,3,32,32] but the model was learned on NCHW [1,3,64,64]: preprocess every image the same way",
        },
        PAYLOAD,
      );
      await expectGoodNext();
    });
  });

  describe("unusual but valid images are inspected", function () {
    async function through(mode: "payload" | "file", name: ImageCase): Promise<{ image: SentImage; tensor: Tensor; transform: Transform; result: Inspection }> {
      await loadLearned();
      const tensorOut = nextMessage(getNode("preOut"));
      const answer = await inspect(mode === "payload" ? "srcP" : "srcF", mode === "payload" ? { payload: corpus[name] } : { filename: paths[name] });
      const probed = await tensorOut;
      const result = answer.payload as Inspection;
      assert.equal(result.method, "patchcore");
      assert.ok(Number.isFinite(result.score), `score ${result.score}`);
      for (const id of ["srcP", "srcF", "pre", "det"]) assert.notEqual(lastFill(id), "red", `${id} is not red`);
      return { image: answer["image"] as SentImage, tensor: probed.payload as Tensor, transform: probed["transform"] as Transform, result };
    }

    const pick = ({ format, width, height, channels, bitDepth, orientation }: SentImage): ImageInfo => ({
      format,
      width,
      height,
      channels,
      bitDepth,
      orientation,
    });

    it("a 1x1 image", async function () {
      const { image, tensor } = await through("payload", "onePixel");
      assert.deepEqual(pick(image), { format: "png", width: 1, height: 1, channels: 3, bitDepth: 8, orientation: 1 });
      assert.ok(Math.abs(tensorAt(tensor, 40, 40, 0) - normR(1)) < CLOSE, "white everywhere");
    });

    it("a 1x100000 image, within the pixel limit", async function () {
      const { image, transform } = await through("file", "tall");
      assert.deepEqual(pick(image), { format: "png", width: 1, height: TALL_HEIGHT, channels: 3, bitDepth: 8, orientation: 1 });
      assert.deepEqual([transform.scaleX, transform.scaleY], [TENSOR_SIZE, TENSOR_SIZE / TALL_HEIGHT]);
    });

    it("a 16-bit PNG keeps its 16-bit precision", async function () {
      const { image, tensor } = await through("payload", "deepPng");
      assert.deepEqual(pick(image), { format: "png", width: SMALL_SIDE, height: SMALL_SIDE, channels: 1, bitDepth: 16, orientation: 1 });
      const expected = normR(DEEP_LEVEL / MAX_16_BIT);
      assert.ok(Math.abs(tensorAt(tensor, 10, 10, 0) - expected) < CLOSE, `${tensorAt(tensor, 10, 10, 0)} vs ${expected}`);
    });

    it("a CMYK JPEG comes out in RGB with its colours", async function () {
      const { image, tensor } = await through("file", "cmykJpeg");
      assert.deepEqual(pick(image), { format: "jpeg", width: SMALL_SIDE, height: SMALL_SIDE, channels: 4, bitDepth: 8, orientation: 1 });
      assert.equal(tensor.dims[1], 3);
      // Through libvips' CMYK profile pure red comes back as (232, 0, 0): red, not inverted (cyan) or gray.
      assert.ok(tensorAt(tensor, 32, 32, 0) > normR(CMYK_RED_MIN), `red ${tensorAt(tensor, 32, 32, 0)}`);
      assert.ok(tensorAt(tensor, 32, 32, 1) < normG(JPEG_LEVELS), `green ${tensorAt(tensor, 32, 32, 1)}`);
      assert.ok(tensorAt(tensor, 32, 32, 2) < normB(JPEG_LEVELS), `blue ${tensorAt(tensor, 32, 32, 2)}`);
    });

    it("an image with alpha", async function () {
      const { image, tensor } = await through("payload", "alphaPng");
      assert.deepEqual(pick(image), { format: "png", width: SMALL_SIDE, height: SMALL_SIDE, channels: 4, bitDepth: 8, orientation: 1 });
      // The alpha channel is ignored (not blended): the gray level stays as stored.
      assert.equal(tensor.dims[1], 3);
      assert.ok(Math.abs(tensorAt(tensor, 8, 8, 0) - normR(ALPHA_GRAY / 255)) < JPEG_LEVELS, `gray ${tensorAt(tensor, 8, 8, 0)}`);
    });

    it("an EXIF-rotated JPEG is inspected upright", async function () {
      const { image, tensor, transform } = await through("file", "exifRotated");
      assert.deepEqual(pick(image), {
        format: "jpeg",
        width: EXIF_STORED.height,
        height: EXIF_STORED.width,
        channels: 3,
        bitDepth: 8,
        orientation: EXIF_ORIENTATION,
      });
      assert.deepEqual(transform.source, { width: EXIF_STORED.height, height: EXIF_STORED.width });
      // The stored left columns are white: displayed, they are the top quarter.
      assert.ok(Math.abs(tensorAt(tensor, 32, 4, 0) - normR(1)) < JPEG_LEVELS / 0.229, `top ${tensorAt(tensor, 32, 4, 0)}`);
      assert.ok(Math.abs(tensorAt(tensor, 32, 60, 0) - normR(0)) < JPEG_LEVELS / 0.229, `bottom ${tensorAt(tensor, 32, 60, 0)}`);
    });
  });

  describe("model files that cannot be used at deploy: red status, every message refused", function () {
    const cases: Array<[string, () => Promise<Partial<DetectorNodeDef>>, string, (file: string) => string | RegExp, number?]> = [
      ["a missing backbone", async () => patchcore({ backbone: join(dir, "missing.onnx") }), "modelNotFound", (file) => `Model file not found: ${file}`],
      [
        "random bytes as backbone",
        async () => patchcore({ backbone: await writeRandomOnnx(dir) }),
        "modelLoadFailed",
        (file) => new RegExp(`^Error: Cannot load the model: cannot load ONNX model ${escapeRegExp(file)}: .+`),
      ],
      [
        "random bytes as supervised model",
        async () => ({ setting: "supervised", method: "onnx", modelFile: await writeRandomOnnx(dir) }),
        "modelLoadFailed",
        (file) => new RegExp(`^Error: Cannot load the model: cannot load ONNX model ${escapeRegExp(file)}: .+`),
        8,
      ],
      [
        "a supervised model whose outputs fit no known format",
        async () => {
          const file = join(dir, "unknown-format.onnx");
          await writeFile(file, buildUnknownFormatModel());
          return { setting: "supervised", method: "onnx", modelFile: file };
        },
        "unknownModelFormat",
        () => /^Error: Unknown model format: .*out0 \[1,7,3\].*out1 \[5\]/,
        8,
      ],
    ];
    for (const [what, config, code, message, size] of cases) {
      it(what, async function () {
        const detector = await config();
        await load(detector, "det", size ?? TENSOR_SIZE);
        await waitForStatus(getNode("det"), `${DETECTOR}.status.error`);
        assert.equal(lastFill("det"), "red");
        const file = String(detector.backbone ?? detector.modelFile);
        for (const image of good.slice(0, 2)) {
          await expectRefused("srcP", { payload: image }, { node: "det", code, message: () => message(file) }, PAYLOAD);
        }
      });
    }
  });

  describe("a damaged memory bank is refused, kept, and replaced by learning anew", function () {
    const damages: Array<[string, (bytes: Buffer) => Buffer, string, (file: string) => string | RegExp]> = [
      [
        "truncated",
        truncateModelFile,
        "modelFileInvalid",
        (file) => new RegExp(`^Error: The saved model ${escapeRegExp(file)} cannot be used: the file is truncated`),
      ],
      [
        "of another format version",
        (bytes) => withModelFileVersion(bytes, 2),
        "modelFileVersion",
        (file) => `The saved model ${file} has file format 2; this version of the package reads format 1`,
      ],
    ];
    for (const [what, damage, code, message] of damages) {
      it(what, async function () {
        const detId = `bank-${code}`;
        const file = modelFile(detId);
        await load(patchcore(), detId);
        await learn(detId, good.slice(0, TRAIN));
        await helper.unload();
        const damaged = damage(await readFile(file));
        await writeFile(file, damaged);

        await load(patchcore(), detId);
        await waitForStatus(getNode(detId), `${DETECTOR}.status.fileError`);
        assert.equal(lastFill(detId), "red");
        await expectRefused("srcP", { payload: good[2] }, { node: detId, code, message: () => message(file) }, PAYLOAD);
        await expectRefused("srcP", { payload: good[0], learn: true }, { node: detId, code, message: () => message(file) }, PAYLOAD);
        assert.ok((await readFile(file)).equals(damaged), "the damaged file is kept as it was");

        const reset = await inspect(detId, { command: "reset" });
        assert.deepEqual(reset.payload, { command: "reset", deleted: true });
        await learn(detId, good.slice(0, TRAIN));
        const inspected = (await inspect("srcP", { payload: good[2] })).payload as Inspection;
        assert.equal(inspected.model["trainedOn"], TRAIN);
        assert.equal(lastFill(detId), "green");
        const saved = await readModelFile(file);
        assert.equal(saved.version, 1);
        await rm(file, { force: true });
      });
    }
  });
});
