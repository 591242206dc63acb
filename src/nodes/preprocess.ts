/**
 * defect-preprocess: turns the encoded image of a message into a model input tensor and the
 * Transform that maps tensor pixels back to the original image.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { performance } from "node:perf_hooks";
import { DefectError } from "../lib/errors";
import { MAX_MESSAGE_TENSOR_PIXELS, parsePreprocessOptions, preprocessImage, toImageBuffer, type DecodeLimits, type PreprocessOptions } from "../lib/image";
import { addTiming, describe, findMessageImage, isRecord, readRecipe, teachesTheLine, writeMessageImage, writePreprocessed } from "../lib/message";
import { parseRecipeSettings } from "../lib/recipes";
import type { SourceImage } from "../lib/source/load-image";
import { createErrorRouter } from "./shared/errors";
import { rejectInput, type SendFunction } from "./shared/input";
import { parseDecodeLimits, svgAllowed } from "./shared/settings";
import { droppedNote, handleQueuedInput } from "./shared/queue";
import { COMMON_STATES, createStatus } from "./shared/status";
import { parseQueueOptions, type QueueOptions } from "../lib/queue";
import type { PreprocessNodeDef } from "./preprocess-def";

const TYPE = "defect-preprocess";
/** The editor's default, also used for a flow written by hand without a preset. */
const DEFAULT_PRESET = "imagenet";
/**
 * Images are decoded one at a time, at most 8 waiting: without a bound a burst would be decoded
 * all at once, holding every raw image and tensor in memory and starving the detector of CPU
 * for images it would drop anyway.
 */
const QUEUE_DEFAULTS: QueueOptions = { size: 8, policy: "drop-oldest" };

/**
 * The resize mode: `resizeMode`, or the `resize` text of flows written before it was renamed.
 * A boolean `resize` is the editor's own redraw flag (deployed by those older editor files), not
 * a choice: it falls back to the preset's mode.
 */
function resizeModeOf(config: PreprocessNodeDef): unknown {
  const legacy = (config as PreprocessNodeDef & { resize?: unknown }).resize;
  return config.resizeMode ?? (typeof legacy === "string" ? legacy : undefined);
}

/** The editor fields that are preprocessing options; empty ones keep the preset's value. */
function editorOptions(config: PreprocessNodeDef): Record<string, unknown> {
  const { preset, width, height, kernel, padValue, roi, color, layout, scale, mean, std } = config;
  return { preset: preset ?? DEFAULT_PRESET, width, height, resize: resizeModeOf(config), kernel, padValue, roi, color, layout, scale, mean, std };
}

/** Options for one message: the deployed ones (or its recipe's), overridden by msg.preprocess when present. */
function messageOptions(msg: NodeMessageInFlow, deployed: PreprocessOptions): PreprocessOptions {
  const override = msg["preprocess"];
  if (override === undefined) return deployed;
  if (!isRecord(override)) {
    const type = describe(override);
    throw new DefectError("invalidOption", `msg.preprocess must be an object of options, got ${type}`, {
      option: "msg.preprocess",
      value: type,
    });
  }
  const options = parsePreprocessOptions(override, deployed);
  const allowed = Math.max(MAX_MESSAGE_TENSOR_PIXELS, deployed.width * deployed.height);
  if (options.width * options.height > allowed) {
    throw new DefectError(
      "invalidOption",
      `msg.preprocess asks for a ${options.width}x${options.height} tensor; a message may ask for at most ${allowed} pixels (the node's own size, or 2048x2048): set larger sizes in the node`,
      { option: "msg.preprocess", value: `${options.width}x${options.height}` },
    );
  }
  return options;
}

function imageBuffer(msg: NodeMessageInFlow): Buffer {
  const buffer = findMessageImage(msg)?.buffer ?? toImageBuffer(msg.payload);
  if (buffer === undefined) {
    const type = describe(msg.payload);
    throw new DefectError("noImageInput", `No image in msg.image.buffer or msg.payload: expected a Buffer, base64 text or a data: URL, got ${type}`, {
      source: "msg.payload",
      type,
    });
  }
  return buffer;
}

export = function register(RED: NodeAPI): void {
  function PreprocessNode(this: Node, config: PreprocessNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, COMMON_STATES, (key) => RED._(key));
    const errors = createErrorRouter(RED, node, TYPE, status);
    let deployed: PreprocessOptions;
    /** Each recipe's own options (msg.recipe), read at deploy from the *Recipes* field. */
    let byRecipe: Map<string, PreprocessOptions>;
    let limits: DecodeLimits;
    let queueOptions: QueueOptions;
    try {
      deployed = parsePreprocessOptions(editorOptions(config));
      const base = deployed;
      byRecipe = parseRecipeSettings(config.recipes, "recipes", (settings) => parsePreprocessOptions(settings, base));
      limits = parseDecodeLimits(config.maxPixels, svgAllowed(RED));
      queueOptions = parseQueueOptions(config, QUEUE_DEFAULTS);
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    status.set("ready");

    handleQueuedInput(RED, node, errors, {
      type: TYPE,
      queue: queueOptions,
      teaching: teachesTheLine,
      settles: false,
      onChange: (stats) => status.setNote(droppedNote(RED, TYPE, stats.dropped)),
      handler: preprocessMessage,
    });

    async function preprocessMessage(msg: NodeMessageInFlow, send: SendFunction): Promise<void> {
      const started = performance.now();
      const buffer = imageBuffer(msg);
      const recipe = readRecipe(msg);
      const options = messageOptions(msg, (recipe === undefined ? undefined : byRecipe.get(recipe)) ?? deployed);
      const { tensor, transform, info } = await preprocessImage(buffer, options, limits);
      if (findMessageImage(msg) === undefined) {
        const image: SourceImage = { ...info, buffer, source: "payload" };
        writeMessageImage(msg, image);
      }
      writePreprocessed(msg, { tensor, transform, options });
      addTiming(msg, "preprocessMs", performance.now() - started);
      status.set("ready");
      send(msg);
    }

    // Nothing to release: each message's decode is self-contained. A removed node leaves no status.
    node.on("close", (removed: boolean, done: () => void) => {
      if (removed) status.clear();
      done();
    });
  }

  RED.nodes.registerType(TYPE, PreprocessNode);
};
