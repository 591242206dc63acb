/**
 * defect-detector learning from a few good images: PatchCore rounds of up to 8 images also learn
 * variants of each (mirrors, small turns and shifts, brightness, extra exact turns), which the
 * answers, the bank size and the scores show; larger rounds and "off" learn the images only; the
 * options are checked at deploy, and the record of it never stops a saved model from loading.
 * Per-image standardisation (standardize) makes a part under other lighting score like itself, and
 * is part of what a saved model was learned with. The few-shot setting learns 4 good images by
 * default (1 to 16), standardised, and scores parts by the anomaly map's peak.
 * Synthetic parts through the real preprocess core, tiny backbone, real en-US catalog.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { readLearnedRecord } from "../../src/lib/detector/storage/learned-record";
import { parsePreprocessOptions, preprocessImage } from "../../src/lib/image";
import type { PreprocessOptions, RawImage, Tensor } from "../../src/lib/image/types";
import { readModelFile, writeModelFile } from "../../src/lib/persist";
import { generateDefect, generateGood, type TextureKind } from "../../src/offline/synth";
import detectorNode from "../../src/nodes/detector";
import type { DetectorNodeDef } from "../../src/nodes/detector-def";
import { catalogTranslator, withCatalog, statusText } from "../fixtures/catalog";
import { encodePng } from "../fixtures/images";
import {
  catchAll,
  caughtError,
  collectMessages,
  getNode,
  helper,
  nextMessage,
  onTab,
  statusTexts,
  useNodeRedHelper,
  waitForStatus,
  type FlowItem,
} from "../fixtures/node-red";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const TYPE = "defect-detector";
const SOURCE_SIZE = 96;
const TENSOR_SIZE = 64;
/** The tiny backbone's l1 grid is a quarter of the tensor side. */
/** Variants a shot by default: three mirrors (x, y, both) and four random small turns/shifts/brightness. */
const VARIANTS = 7;
/** Rounds of up to this many images are augmented in "auto" mode; "on" augments this many of any round. */
const MAX_SHOTS = 8;
const WAIT_MS = 20_000;

const translate = catalogTranslator("detector");
const node = withCatalog(detectorNode, translate);
const status = statusText(TYPE, translate);

interface Prepared {
  tensor: Tensor;
  preprocessing: PreprocessOptions;
}

interface ModelInfo {
  bankSize: number;
  trainedOn: number;
  variants?: number;
  created: string;
}

const OPTIONS = parsePreprocessOptions({ preset: "imagenet", width: TENSOR_SIZE, height: TENSOR_SIZE });

async function prepare(image: RawImage): Promise<Prepared> {
  const { tensor } = await preprocessImage(await encodePng(image), OPTIONS, { maxPixels: 1e8 });
  return { tensor, preprocessing: OPTIONS };
}

/** The same part seen through `to(x, y)` = the source pixel of output pixel (x, y), on a square image. */
function remap(image: RawImage, to: (x: number, y: number, side: number) => [number, number]): RawImage {
  const side = image.width;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const [sx, sy] = to(x, y, side);
      for (let c = 0; c < image.channels; c++) data[(y * side + x) * image.channels + c] = image.data[(sy * side + sx) * image.channels + c]!;
    }
  }
  return { ...image, data };
}

/** Mirrored left to right, as a label put in upside down through a mirror would be. */
const mirrored = (image: RawImage): RawImage => remap(image, (x, y, side) => [side - 1 - x, y]);
/** Turned a quarter turn. */
const quarterTurned = (image: RawImage): RawImage => remap(image, (x, y, side) => [side - 1 - y, x]);

/**
 * The same grey part under lighting with more contrast, as a colour image: each channel's values
 * 1.5 times as far from that channel's normalisation mean (ImageNet's, what the tensor subtracts)
 * as before, so the whole tensor is 1.5 times the original's. Scaled about those means, not moved
 * by an offset, because the tiny backbone's filters are zero-mean over all channels together and
 * padded with zeros: an offset would show at the border and where the channels differ, a change
 * that is not uniform. Values are checked to stay in 0..255, so nothing is clipped.
 */
function contrasted(image: RawImage): RawImage {
  if (image.channels !== 1) throw new RangeError("a grey part is expected");
  const data = new Uint8Array(image.data.length * 3);
  for (let i = 0; i < data.length; i++) {
    const mean = 255 * OPTIONS.mean[i % 3]!;
    const v = Math.round(1.5 * (image.data[Math.floor(i / 3)]! - mean) + mean);
    if (v < 0 || v > 255) throw new RangeError(`value ${i} would be clipped (${v})`);
    data[i] = v;
  }
  return { ...image, channels: 3, data };
}

function msgOf(p: Prepared, extra: Record<string, unknown> = {}): NodeMessage {
  return { payload: p.tensor, preprocessing: { ...p.preprocessing }, ...extra };
}

describe("defect-detector few-shot learning (support-set augmentation)", function () {
  this.timeout(120_000);
  const userDir = useNodeRedHelper();
  let dir = "";
  let backbone = "";
  const parts = new Map<string, Prepared>();

  /** Good part `seed` of `kind`, optionally seen through a remap; prepared once. */
  async function part(kind: TextureKind, seed: number, view?: (image: RawImage) => RawImage): Promise<Prepared> {
    const key = `${kind}/${seed}/${view?.name ?? ""}`;
    let prepared = parts.get(key);
    if (prepared === undefined) {
      const image = generateGood(kind, seed, SOURCE_SIZE);
      prepared = await prepare(view === undefined ? image : view(image));
      parts.set(key, prepared);
    }
    return prepared;
  }

  async function goodParts(kind: TextureKind, count: number): Promise<Prepared[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => part(kind, i + 1)));
  }

  async function load(config: Partial<DetectorNodeDef>): Promise<void> {
    const det: FlowItem<DetectorNodeDef> = { id: "det", type: TYPE, wires: [["out"]], backbone, layers: "l1,l2", ...config };
    await helper.load(node, onTab([det, { id: "out", type: "helper" }, ...catchAll()]));
  }

  const det = () => getNode("det");

  /** Learns `samples` and fits them as one round; resolves with the fit's model info. */
  async function learnAndFit(samples: readonly Prepared[]): Promise<ModelInfo> {
    const outs = collectMessages(getNode("out"), samples.length + 1, WAIT_MS);
    for (const s of samples) det().receive(msgOf(s, { learn: true }));
    det().receive({ command: "fit" });
    const answers = await outs;
    return (answers.at(-1)!.payload as { model: ModelInfo }).model;
  }

  async function score(p: Prepared): Promise<number> {
    const out = nextMessage(getNode("out"), WAIT_MS);
    det().receive(msgOf(p));
    return ((await out).payload as { score: number }).score;
  }

  /** Fits `samples` on a fresh node with `config`; the node stays deployed. */
  async function fitted(config: Partial<DetectorNodeDef>, samples: readonly Prepared[]): Promise<ModelInfo> {
    await load({ trainCount: "100", ...config });
    await waitForStatus(det(), status("untrained"));
    return learnAndFit(samples);
  }

  const modelFile = (): string => join(userDir(), "defect-detection", "det.ddm");

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-fewshot-"));
    backbone = await writeTinyBackbone(dir);
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
  });

  describe("bank size", function () {
    it("learns 2 images with 7 variants each by default: a larger bank, shown in the fit's answer, status fitting meanwhile", async function () {
      const model = await fitted({}, await goodParts("cast-surface", 2));
      assert.deepEqual(
        { ...model, created: "" },
        { bankSize: 204 /* 5 % of 2 x 8 x 256 patches */, trainedOn: 2, variants: 2 * VARIANTS, created: "", version: 1 },
      );
      assert.ok(statusTexts(det()).includes(status("fitting", { count: 2 })));
      assert.equal(statusTexts(det()).at(-1), status("ready"));
      // What the file records: informational, read back with the model.
      const record = readLearnedRecord((await readModelFile(modelFile())).metadata, modelFile());
      assert.deepEqual(record.augmentation, { mode: "auto", shots: 2, variants: 2 * VARIANTS, rotations: [] });
    });

    it('learns the images only with augment "off"', async function () {
      const model = await fitted({ augment: "off" }, await goodParts("cast-surface", 2));
      assert.deepEqual([model.bankSize, model.variants], [25 /* 5 % of 2 x 256 */, 0]);
    });

    it('learns the images only when an "auto" round has more than 8 (10), and 8 images\' variants with "on"', async function () {
      const ten = await goodParts("cast-surface", 10);
      const auto = await fitted({}, ten);
      assert.deepEqual([auto.bankSize, auto.variants], [128 /* 5 % of 10 x 256 */, 0]);
      await helper.unload();
      await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
      const on = await fitted({ augment: "on" }, ten);
      assert.deepEqual([on.bankSize, on.variants], [844 /* 5 % of (10 + 8 x 7) x 256 */, MAX_SHOTS * VARIANTS]);
    });

    it("adds one variant a shot for each extra turn", async function () {
      const model = await fitted({ rotations: "90, 270" }, await goodParts("cast-surface", 2));
      assert.deepEqual([model.bankSize, model.variants], [256 /* 5 % of 2 x 10 x 256 */, 2 * (VARIANTS + 2)]);
    });
  });

  describe("scores", function () {
    // The mirror (and, with Extra turns 90, the quarter turn) of a learned shot is learned as a
    // variant: the bank then holds the patches of the very part inspected (up to the resize's
    // rounding), so it scores like a learned shot, the coreset's residual. Without that variant
    // the bank has only the unturned print or streaks, which the tiny backbone's oriented
    // filters tell apart, so the part scores well above a learned shot.
    for (const [what, kind, view, augmented, plain, than] of [
      ["a mirrored label", "printed-pattern", mirrored, {}, { augment: "off" }, 'with the default augmentation than with "off"'],
      [
        "brushed metal turned a quarter turn",
        "brushed-metal",
        quarterTurned,
        { rotations: "90" },
        {},
        "with Extra turns 90 than with the default mirrors only",
      ],
    ] as const) {
      it(`scores ${what} lower ${than}`, async function () {
        const shots = await goodParts(kind, 2);
        const turned = await part(kind, 1, view);
        await fitted(augmented, shots);
        const withVariants = await score(turned);
        const learned = await score(shots[0]!);
        await helper.unload();
        await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
        await fitted(plain, shots);
        const without = await score(turned);
        // Measured: the turned part scores within 2 % of a learned shot with its variant learned
        // (0.234 vs 0.230 for the label, 0.047 vs 0.046 for the metal), 1.8x and 2.4x a learned
        // shot without; the bounds leave room either side and stay on the right side of both.
        assert.ok(withVariants < 1.1 * learned, `${what}: ${withVariants} with the variant learned, a learned shot ${learned}`);
        assert.ok(without > 1.5 * learned, `${what}: ${without} without the variant, a learned shot ${learned}`);
        assert.ok(withVariants < without);
      });
    }
  });

  describe("per-image standardisation (standardize)", function () {
    it("scores a brighter, higher-contrast copy of a learned part like the learned part, far below its score without; a defect still stands out", async function () {
      const shots = await goodParts("cast-surface", 2);
      const copy = await part("cast-surface", 1, contrasted);
      const unseen = await part("cast-surface", 3);
      const defect = await prepare(generateDefect("cast-surface", "hole", 3, SOURCE_SIZE).image);
      // Both at the paper's 3 x 3 neighbourhood, where the figures below were measured (the
      // unsupervised default with an ONNX backbone is 1 x 1: there the copy without scores 2.5x).
      await fitted({ standardize: true, neighbourhood: "3" }, shots);
      const on = { copy: await score(copy), learned: await score(shots[0]!), unseen: await score(unseen), defect: await score(defect) };
      await helper.unload();
      await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
      await fitted({ neighbourhood: "3" }, shots);
      const off = { copy: await score(copy), learned: await score(shots[0]!) };
      // Scores of the two settings are in other units (standardised features spread about 1 a
      // channel), so each is compared with the learned part's own score. Measured: with it on the
      // copy scores 1.02x the learned part (4.34 vs 4.25) and below an unseen good part (6.25),
      // the hole on that unseen part 2.97x it (18.5); with it off the copy scores 5.6x the learned
      // part (0.241 vs 0.043). The bounds leave room either side and keep each on its side.
      const shown = JSON.stringify({ on, off });
      assert.ok(on.copy < 1.15 * on.learned, shown);
      assert.ok(on.copy < on.unseen, shown);
      assert.ok(off.copy > 3 * off.learned, shown);
      assert.ok(on.defect > 2 * on.unseen, shown);
    });

    for (const [saved, now] of [
      [false, true],
      [true, false],
    ] as const) {
      it(`refuses a model learned with it ${saved ? "on" : "off"} after a redeploy with it ${now ? "on" : "off"} (modelMismatch naming it), and keeps the file`, async function () {
        const shots = await goodParts("cast-surface", 2);
        await fitted({ standardize: saved }, shots);
        await helper.unload();
        const file = await readModelFile(modelFile());
        assert.equal(file.metadata["standardize"], saved);
        await load({ trainCount: "100", standardize: now });
        await waitForStatus(det(), status("mismatch"));
        const caught = nextMessage(getNode("caught"), WAIT_MS);
        det().receive({ _msgid: "m1", ...msgOf(shots[0]!) });
        const error = caughtError(await caught);
        assert.equal(error.code, "modelMismatch");
        const onOff = (on: boolean): string => (on ? "on" : "off");
        assert.equal(
          error.message,
          `Error: The saved model ${modelFile()} does not match the configuration (standardize: saved ${onOff(saved)}, now ${onOff(now)}). ` +
            'It is kept: restore the configuration or send msg.command "reset"',
        );
        assert.equal((await readModelFile(modelFile())).metadata["standardize"], saved, "the file is kept");
        // Back to the setting it was learned with, it loads again.
        await helper.unload();
        await load({ trainCount: "100", standardize: saved });
        await waitForStatus(det(), status("ready"));
      });
    }

    it("loads a file saved before the setting was recorded as learned with it off, and refuses it with it on", async function () {
      const shots = await goodParts("cast-surface", 2);
      await fitted({}, shots);
      const expected = await score(shots[1]!);
      await helper.unload();
      const file = await readModelFile(modelFile());
      const { standardize, ...older } = file.metadata;
      assert.equal(standardize, false);
      await writeModelFile(modelFile(), { metadata: older, sections: file.sections });
      await load({ trainCount: "100" });
      await waitForStatus(det(), status("ready"));
      assert.equal(await score(shots[1]!), expected);
      await helper.unload();
      await load({ trainCount: "100", standardize: true });
      await waitForStatus(det(), status("mismatch"));
      // What the reader makes of it; a value other than true or false is a broken file, not "off".
      assert.equal(readLearnedRecord(older, "old.ddm").standardize, false);
      assert.throws(
        () => readLearnedRecord({ ...older, standardize: "yes" }, "odd.ddm"),
        /odd\.ddm is not a usable model file: the standardize record is not true or false/,
      );
    });
  });

  describe("the few-shot setting", function () {
    /** Learns `samples` one by one without a fit command; resolves with every answer. */
    async function learnAll(samples: readonly Prepared[]): Promise<NodeMessage[]> {
      const outs = collectMessages(getNode("out"), samples.length, WAIT_MS);
      for (const s of samples) det().receive(msgOf(s, { learn: true }));
      return outs;
    }

    async function inspect(p: Prepared): Promise<{ score: number; peak: number; topMean: number }> {
      const out = nextMessage(getNode("out"), WAIT_MS);
      det().receive(msgOf(p));
      const msg = (await out) as NodeMessage & { anomalyMap: { data: ArrayLike<number> } };
      const values = Array.from(msg.anomalyMap.data).sort((a, b) => b - a);
      // The mean of the map's largest 1 %.
      const top = values.slice(0, Math.max(1, Math.round(values.length * 0.01)));
      return { score: (msg.payload as { score: number }).score, peak: values[0]!, topMean: top.reduce((a, b) => a + b, 0) / top.length };
    }

    it("fits by itself after 4 good images, learned standardised, and scores a part by its anomaly map's peak", async function () {
      const shots = await goodParts("cast-surface", 4);
      await load({ setting: "fewshot", mapSize: "model" });
      await waitForStatus(det(), status("untrained"));
      const answers = await learnAll(shots);
      assert.deepEqual(
        answers.slice(0, 3).map((m) => (m.payload as { count: number; total: number }).count),
        [1, 2, 3],
      );
      assert.equal((answers[0]!.payload as { total: number }).total, 4);
      const model = (answers[3]!.payload as { model: ModelInfo }).model;
      assert.equal(model.trainedOn, 4);
      assert.equal(model.variants, 4 * VARIANTS);
      const file = await readModelFile(modelFile());
      assert.equal(file.metadata["standardize"], true);
      const defect = await prepare(generateDefect("cast-surface", "hole", 5, SOURCE_SIZE).image);
      const good = await inspect(await part("cast-surface", 6));
      const bad = await inspect(defect);
      assert.equal(good.score, good.peak);
      assert.equal(bad.score, bad.peak);
      assert.ok(bad.score > 1.5 * good.score, JSON.stringify({ good, bad }));
    });

    it("augments every image of a 12-image round and keeps the preset's 10 % coreset (the unsupervised setting would learn the 12 alone)", async function () {
      const shots = await goodParts("cast-surface", 12);
      await load({ setting: "fewshot", trainCount: "12" });
      await waitForStatus(det(), status("untrained"));
      const model = ((await learnAll(shots))[11]!.payload as { model: ModelInfo }).model;
      // 12 images x 8 x 256 patches = 24,576, of which the preset's coreset keeps 10 %.
      assert.deepEqual([model.trainedOn, model.variants, model.bankSize], [12, 12 * VARIANTS, 2457]);
    });

    it("keeps the paper's re-weighted score when the image score is set so; the unsupervised setting scores the map's top 1 % by default", async function () {
      const shots = await goodParts("cast-surface", 4);
      for (const config of [
        { setting: "fewshot", imageScore: "reweighted" },
        { setting: "unsupervised", trainCount: "4" },
      ]) {
        await load({ mapSize: "model", ...config });
        await waitForStatus(det(), status("untrained"));
        await learnAll(shots);
        const { score, peak, topMean } = await inspect(await part("cast-surface", 6));
        if (config.setting === "fewshot") {
          // The blur spreads the largest patch distance over its neighbours, so the peak is lower.
          assert.ok(score > peak, `${JSON.stringify(config)}: score ${score}, map peak ${peak}`);
        } else {
          // 4 images are too few for the appearance term: the score is the map's alone.
          assert.ok(Math.abs(score - topMean) <= 1e-5 * Math.max(1, topMean), `${JSON.stringify(config)}: score ${score}, top 1 % mean ${topMean}`);
          assert.ok(score < peak);
        }
        await helper.unload();
        await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
      }
    });

    it("standardises on auto with an ONNX backbone only: the embedded backbone learns raw features, as do other settings", async function () {
      const shots = await goodParts("cast-surface", 2);
      for (const [config, expected] of [
        [{ setting: "fewshot", standardize: "auto" }, true],
        [{ setting: "fewshot", backbone: "embedded", layers: "stage2,stage3" }, false],
        [{ setting: "fewshot", backbone: "embedded", layers: "stage2,stage3", standardize: "true" }, true],
        [{ setting: "fewshot", standardize: false }, false],
        [{ setting: "unsupervised", standardize: "auto" }, false],
      ] as const) {
        await fitted({ ...config, trainCount: "16" }, shots);
        await helper.unload();
        assert.equal((await readModelFile(modelFile())).metadata["standardize"], expected, JSON.stringify(config));
        await rm(join(userDir(), "defect-detection"), { recursive: true, force: true });
      }
    });

    it("refuses a model learned in the unsupervised setting after a redeploy in the few-shot setting (modelMismatch), and keeps it", async function () {
      const shots = await goodParts("cast-surface", 2);
      await fitted({ standardize: true }, shots);
      await helper.unload();
      await load({ setting: "fewshot" });
      await waitForStatus(det(), status("mismatch"));
      assert.equal((await readModelFile(modelFile())).metadata["setting"], "unsupervised");
    });
  });

  describe("options", function () {
    const many = Array.from({ length: 37 }, (_, i) => String(i * 9)).join(",");
    for (const [what, config, option, value] of [
      ["an unknown mode", { augment: "sometimes" }, "augment", "sometimes"],
      ["an empty turn", { rotations: "45,,90" }, "rotations", "45,,90"],
      ["a turn beyond 360 degrees", { rotations: "400" }, "rotations", "400"],
      ["a word", { rotations: "ninety" }, "rotations", "ninety"],
      ["37 turns", { rotations: many }, "rotations", many],
      ["a standardize value that is not true or false", { standardize: "yes" }, "standardize", "yes"],
      ["an unknown image score rule", { imageScore: "mean" }, "imageScore", "mean"],
      ["17 good images in the few-shot setting (1 to 16)", { setting: "fewshot", trainCount: "17" }, "trainCount", "17"],
      ["PaDiM in the few-shot setting (PatchCore only)", { setting: "fewshot", method: "padim" }, "method", "padim"],
    ] as const) {
      it(`refuses ${what} at deploy with invalidOption naming the option and value`, async function () {
        await load(config);
        assert.deepEqual(statusTexts(det()), [status("error")]);
        const caught = nextMessage(getNode("caught"), WAIT_MS);
        det().receive({ _msgid: "m1", ...msgOf(await part("cast-surface", 1), { learn: true }) });
        const error = caughtError(await caught);
        assert.equal(error.code, "invalidOption");
        assert.equal(error.message, `Error: Invalid ${option}: ${value}`);
      });
    }
  });

  describe("the saved model", function () {
    it("reloads after a redeploy with the same scores, whatever the augmentation options are now", async function () {
      const shots = await goodParts("printed-pattern", 2);
      const probe = await part("printed-pattern", 1, mirrored);
      const model = await fitted({}, shots);
      const before = [await score(probe), await score(shots[1]!)];
      for (const config of [{}, { augment: "off", rotations: "90" }]) {
        await helper.unload();
        await load({ trainCount: "100", ...config });
        await waitForStatus(det(), status("ready"));
        const out = nextMessage(getNode("out"), WAIT_MS);
        det().receive(msgOf(probe));
        const answer = (await out).payload as { score: number; model: ModelInfo };
        assert.equal(answer.score, before[0]);
        assert.deepEqual(answer.model, model);
        assert.equal(await score(shots[1]!), before[1]);
      }
    });

    it("loads a file saved before augmentation was recorded, as before (no variants in the answer)", async function () {
      const shots = await goodParts("cast-surface", 2);
      const model = await fitted({}, shots);
      const expected = await score(shots[1]!);
      await helper.unload();
      const file = await readModelFile(modelFile());
      const { augmentation, ...older } = file.metadata;
      assert.ok(augmentation !== undefined);
      await writeModelFile(modelFile(), { metadata: older, sections: file.sections });
      await load({ trainCount: "100" });
      await waitForStatus(det(), status("ready"));
      const out = nextMessage(getNode("out"), WAIT_MS);
      det().receive(msgOf(shots[1]!));
      const answer = (await out).payload as { score: number; model: ModelInfo };
      assert.equal(answer.score, expected);
      const { variants, ...rest } = model;
      assert.equal(variants, 2 * VARIANTS);
      assert.deepEqual(answer.model, rest);
      // A malformed record is left out the same way: it only informs.
      assert.equal("augmentation" in readLearnedRecord({ ...older, augmentation: { mode: "sometimes" } }, "odd.ddm"), false);
    });
  });
});
