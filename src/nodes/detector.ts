/**
 * defect-detector: scores the tensor of each message for anomalies. With PatchCore it learns
 * "good" in the flow (messages marked for learning, or a folder at deploy), fits by itself
 * after trainCount images and keeps the learned model in the user directory; with an anomalib
 * export or a supervised ONNX model (classes, boxes, segmentation maps) it only inspects.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { basename } from "node:path";
import { performance } from "node:perf_hooks";
import {
  DetectorEngine,
  folderSamples,
  listTrainingImages,
  modelFilePath,
  openMethod,
  outputMap,
  parseDetectorOptions,
  type DetectorOptions,
  type DetectorState,
  type InspectionResult,
  type MapSize,
  type Sample,
} from "../lib/detector";
import type { Transform } from "../lib/image/types";
import { DefectError } from "../lib/errors";
import {
  addTiming,
  endCommand,
  isRecord,
  readPreprocessing,
  readRecipe,
  readTensor,
  readTensorTransform,
  teachesTheLine,
  writeAnomalyMap,
  writeRecipe,
} from "../lib/message";
import { loadSelection, RecipeCache, recipePath, recipesOnDisk, saveSelection, selectionPath } from "../lib/recipes";
import { sessionPool } from "../lib/onnx";
import { DEFAULT_MAX_PIXELS } from "../lib/image";
import { parseQueueOptions, type QueueOptions } from "../lib/queue";
import { resolveSourcePath } from "../lib/source/read-file";
import { attachDetectorController, detachDetectorController, registerDetectorAdmin, type LearningAction } from "./detector-admin";
import { driftHigh, learningJson, readRequest, runCommand, type Command } from "./detector-online";
import { createErrorRouter, translateError } from "./shared/errors";
import { registerFileCheck } from "./shared/file-check";
import { rejectInput, type SendFunction } from "./shared/input";
import { messageProperty } from "./shared/message";
import { droppedNote, handleQueuedInput } from "./shared/queue";
import { baseDirectory } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";
import type { DetectorNodeDef } from "./detector-def";

const TYPE = "defect-detector";
/** Node-RED allows a close handler 15 s; what is left after this goes to releasing sessions. */
const CLOSE_WAIT_MS = 10_000;
/** Editor buttons and the commands they are. */
const ACTION_COMMANDS: Record<LearningAction, Command> = { start: "start-learning", stop: "stop-learning", reset: "reset", rollback: "rollback" };
/**
 * Inspections wait in a queue of 8 by default: at about 100 ms an image that is under a second
 * of delay, and a burst beyond it drops the oldest waiting images, so the freshest parts are
 * inspected and the results stay close to the line.
 */
const QUEUE_DEFAULTS: QueueOptions = { size: 8, policy: "drop-oldest" };

const STATES = {
  loading: { fill: "grey", shape: "ring" },
  untrained: { fill: "yellow", shape: "ring" },
  learning: { fill: "blue", shape: "dot" },
  fitting: { fill: "blue", shape: "ring" },
  ready: { fill: "green", shape: "dot" },
  stopped: { fill: "green", shape: "ring" },
  drift: { fill: "yellow", shape: "dot" },
  mismatch: { fill: "red", shape: "ring" },
  fileError: { fill: "red", shape: "ring" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

/**
 * Learning messages, commands and confirmations go to the teaching queue (shared/queue.ts), not
 * the inspections': an inspection burst must never push one out and silently change what the
 * node learns. A message whose request is invalid goes there too, to be refused in its turn.
 */
function teachesOrAsks(msg: NodeMessageInFlow, partIdProperty: string): boolean {
  if (teachesTheLine(msg)) return true;
  try {
    return readRequest(msg, partIdProperty).kind !== "inspect";
  } catch {
    return true;
  }
}

/** What a learned image is called: its file name (msg.filename), else its topic; a template detector reports it. */
function sampleName(msg: NodeMessageInFlow): string | undefined {
  const file = msg["filename"];
  if (typeof file === "string" && file !== "") return basename(file);
  return typeof msg.topic === "string" && msg.topic !== "" && msg.topic !== "learn" ? msg.topic : undefined;
}

function readSample(msg: NodeMessageInFlow): Sample {
  return {
    tensor: readTensor(msg.payload, "msg.payload"),
    preprocessing: readPreprocessing(msg),
    name: sampleName(msg),
  };
}

/** Supervised models add what they found; the keys of unsupervised payloads stay as they were. */
function inspectionPayload(result: InspectionResult, method: string): Record<string, unknown> {
  if (result.task === undefined) {
    return {
      score: result.score,
      method,
      model: result.model,
      ...(result.drift === undefined ? {} : { drift: result.drift }),
      ...(result.defectEvidence === undefined ? {} : { defectEvidence: result.defectEvidence }),
      ...(result.headEvidence === undefined ? {} : { headEvidence: result.headEvidence }),
      ...(result.appearance === undefined ? {} : { appearance: result.appearance }),
      ...(result.lookalikes === undefined ? {} : { lookalikes: result.lookalikes }),
      ...(result.reference === undefined ? {} : { reference: result.reference }),
    };
  }
  return {
    score: result.score,
    method,
    task: result.task,
    ...(result.label === undefined ? {} : { class: result.label }),
    classes: result.classes ?? [],
    boxes: result.boxes ?? [],
    model: result.model,
  };
}

/**
 * `partId`: the part id read from *Part id in*, handed on in msg.payload.partId so that the
 * threshold node files the result (msg.result.partId) under it whatever property it came in.
 */
function writeInspection(
  msg: NodeMessage,
  result: InspectionResult,
  method: string,
  mapSize: MapSize,
  transform: Transform | undefined,
  partId: string | undefined,
): void {
  const started = performance.now();
  const map = outputMap(result.map, mapSize, transform);
  msg.payload = { ...inspectionPayload(result, method), ...(partId === undefined ? {} : { partId }) };
  // `space` tells downstream nodes (threshold, mask-to-region) whether msg.transform still
  // applies, so they never guess it from sizes that can coincide.
  writeAnomalyMap(msg, map === null ? null : { ...map, space: mapSize === "original" && transform !== undefined ? "original" : "model" });
  const { backboneMs, scoringMs, postMs } = result.timings;
  if (backboneMs !== undefined) addTiming(msg, "backboneMs", backboneMs);
  if (scoringMs !== undefined) addTiming(msg, "scoringMs", scoringMs);
  addTiming(msg, "postMs", (postMs ?? 0) + performance.now() - started);
}

export = function register(RED: NodeAPI): void {
  function DetectorNode(this: Node, config: DetectorNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES, (key) => RED._(key));
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: DetectorOptions;
    let queueOptions: QueueOptions;
    try {
      options = parseDetectorOptions({ ...config });
      queueOptions = parseQueueOptions(config, QUEUE_DEFAULTS);
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    // The pool is the process's; this node's ask counts until it closes.
    sessionPool.demand(node.id, options.workers);
    const baseDir = baseDirectory(RED);
    const modelPath = modelFilePath(baseDir, node.id);
    const selectionFile = selectionPath(modelPath);
    let closing = false;
    let reportedBlock: DefectError | undefined;
    /** The product inspected now (msg.recipe; undefined: the node's own model, no recipe named yet). */
    let current: string | undefined;
    /** The current recipe's engine once open; the status of a ready node depends on its learning state. */
    let engine: DetectorEngine | undefined;
    const engines = new RecipeCache<DetectorEngine>({
      size: options.recipeCache,
      open: openEngine,
      close: (opened) => opened.close(CLOSE_WAIT_MS),
      onCloseError: (error) => node.warn(translateError(RED, TYPE, error).message),
    });

    function showState(state: DetectorState): void {
      switch (state.kind) {
        case "learning":
          status.setText("learning", RED._(`${TYPE}.status.learning`, { count: state.count, total: state.total }));
          return;
        case "fitting":
          status.setText("fitting", RED._(`${TYPE}.status.fitting`, { count: state.count }));
          return;
        case "blocked":
          status.set(state.error.code === "modelMismatch" ? "mismatch" : "fileError");
          // Logged once: it names what differs, which a red status cannot.
          if (reportedBlock !== state.error) node.error(translateError(RED, TYPE, state.error));
          reportedBlock = state.error;
          return;
        case "ready":
          showReady(engine);
          return;
        default:
          status.set(state.kind);
      }
    }

    /** Ready, with what learning on the line says: stopped, or drifting. */
    function showReady(current: DetectorEngine | undefined): void {
      const learning = current?.learning;
      if (learning !== undefined && driftHigh(learning, options.online.driftRatio)) {
        const ratio = (learning.drift?.ratio ?? 0).toFixed(2);
        status.setText("drift", RED._(`${TYPE}.status.drift`, { ratio }));
      } else if (learning !== undefined && !learning.learning && options.method === "patchcore") {
        status.set("stopped");
      } else {
        status.set("ready");
      }
    }

    /** One recipe's model: its own file beside the node's, its own learning, its own versions. */
    async function openEngine(recipe: string | undefined): Promise<DetectorEngine> {
      const method = await openMethod(options, baseDir);
      for (const warning of method.kind === "fixed" ? method.warnings : []) node.warn(warning);
      for (const note of method.kind === "fixed" ? (method.notes ?? []) : []) node.log(note);
      let opened: DetectorEngine | undefined;
      try {
        opened = await DetectorEngine.open(method, {
          trainCount: options.trainCount,
          modelPath: recipePath(modelPath, recipe),
          keepVersions: options.keepVersions,
          online: options.online,
          learning: options.learning,
          // A recipe kept open in the background learns and fits too; the status shows the current one.
          onState: (state) => {
            if (recipe === current && opened !== undefined) showState(state);
          },
          onReleaseError: (error) => node.warn(translateError(RED, TYPE, error).message),
        });
        return opened;
      } catch (error) {
        await method.release();
        throw error;
      }
    }

    /** Selection files written in order, off the message's path (a changeover must not wait for a disk). */
    let selectionWrites: Promise<void> = Promise.resolve();

    /**
     * Makes `recipe` the product inspected from now on, and saves the choice so a restart inspects
     * the same product. A selection that cannot be saved reaches Catch with the message that made
     * it; the switch holds until the next restart.
     */
    function select(recipe: string | undefined, msg: NodeMessage): void {
      if (recipe === current) return;
      current = recipe;
      status.setTag(recipe);
      engine = undefined;
      const when = new Date();
      selectionWrites = selectionWrites.then(() => saveSelection(selectionFile, recipe, when)).catch((error: unknown) => errors.report(error, msg));
    }

    status.set("loading");
    const started = loadSelection(selectionFile)
      .catch((error: unknown) => {
        // An unreadable selection is reported; the node starts on its own model.
        node.warn(translateError(RED, TYPE, error).message);
        return undefined;
      })
      .then(async (recipe) => {
        current = recipe;
        status.setTag(recipe);
        return engines.use(recipe, (opened) => opened);
      });
    started.then(
      (opened) => {
        engine = opened;
        showState(opened.state);
        /** The editor's view: the current recipe's learning state and the recipes the node knows. */
        const stateJson = async (shown: DetectorEngine): Promise<Record<string, unknown>> => ({
          ...learningJson(shown.learning),
          state: shown.state.kind,
          recipe: current ?? null,
          recipes: { open: engines.open.map((r) => r ?? null), saved: await recipesOnDisk(modelPath), evictions: engines.evictions },
        });
        attachDetectorController(node, {
          state: () => engines.use(current, stateJson),
          act: async (action) =>
            engines.use(current, async (shown) => {
              const answer = await runCommand(shown, ACTION_COMMANDS[action]);
              showState(shown.state);
              return { action, ...answer, state: await stateJson(shown) };
            }),
          // A model share's model goes to the recipe the node inspects now (its own model before one is named).
          reload: () =>
            engines.use(current, async (shown) => {
              const answer = await runCommand(shown, "reload");
              showState(shown.state);
              return answer;
            }),
        });
        const learns = options.method !== "anomalib" && options.method !== "onnx";
        if (!closing && options.trainFolder !== "" && opened.state.kind === "untrained" && learns) {
          void learnFolder(opened);
        }
      },
      (error: unknown) => errors.config(error),
    );

    /** Folder learning at deploy; a bad file is reported and skipped, the rest still learned. */
    async function learnFolder(engine: DetectorEngine): Promise<void> {
      const folder = resolveSourcePath(options.trainFolder, baseDir);
      const skip = (error: unknown, file: string): void => errors.report(error, { _msgid: RED.util.generateId(), filename: file });
      try {
        const all = await listTrainingImages(folder);
        // The first Learn images by name (as `eval --shots K` and `--train-limit` take them): a
        // folder of thousands would otherwise be learned whole, its features held until the fit.
        const files = all.slice(0, options.trainCount);
        if (files.length < all.length) {
          const skipped = all.slice(files.length);
          node.warn(
            RED._(`${TYPE}.warnings.folderCapped`, {
              learned: files.length,
              total: all.length,
              skipped: skipped.length,
              first: basename(skipped[0] as string),
              last: basename(skipped[skipped.length - 1] as string),
            }),
          );
        }
        const fitted = await engine.learnAll(folderSamples(files, options.folderPreprocess, { maxPixels: DEFAULT_MAX_PIXELS }, skip), skip);
        const learned = fitted.model["trainedOn"] ?? files.length;
        node.log(`learned ${learned} of ${all.length} images from ${folder}`);
        // The learning result, as for learned messages: a threshold wired after calibrates from
        // the good scores it hands over (PatchCore), without the folder being read again.
        if (!closing) node.send({ _msgid: RED.util.generateId(), topic: folder, payload: { learning: true, count: learned, total: files.length, ...fitted } });
      } catch (error) {
        if (!closing) errors.report(error, { _msgid: RED.util.generateId(), topic: folder });
      }
      if (!closing) showState(engine.state);
    }

    handleQueuedInput(RED, node, errors, {
      type: TYPE,
      queue: queueOptions,
      teaching: (msg) => teachesOrAsks(msg, options.partIdProperty),
      settles: true,
      onChange: (stats) => status.setNote(droppedNote(RED, TYPE, stats.dropped)),
      handler: inspectOrLearn,
    });

    async function inspectOrLearn(msg: NodeMessageInFlow, send: SendFunction): Promise<void> {
      await started;
      const t0 = performance.now();
      const request = readRequest(msg, options.partIdProperty, (m) => messageProperty(RED, m, options.partIdProperty));
      // Read before anything is switched, so a bad recipe changes nothing.
      const named = readRecipe(msg);
      if (request.kind === "command" && request.command === "recipe" && named === undefined) {
        throw new DefectError("invalidOption", 'msg.command "recipe" needs msg.recipe, the product to switch to', { option: "msg.recipe" });
      }
      const recipe = named ?? current;
      // The message is handled by the recipe it names (learning and verdicts go to that product's model).
      await engines.use(recipe, async (opened) => {
        select(recipe, msg);
        engine = opened;
        await handle(opened, request, msg);
      });
      writeRecipe(msg, recipe);
      addTiming(msg, "detectorMs", performance.now() - t0);
      // After a rejected message the status is red; a handled one shows the state again.
      if (engine !== undefined) showState(engine.state);
      send(msg);
    }

    async function handle(engine: DetectorEngine, request: ReturnType<typeof readRequest>, msg: NodeMessageInFlow): Promise<void> {
      if (request.kind === "command") {
        msg.payload = await runCommand(engine, request.command);
        // Handled here: a threshold wired after must not reset its calibration too.
        endCommand(msg);
      } else if (request.kind === "confirm") {
        // The image is optional: a verdict on an earlier inspection needs only its part id, and a
        // dashboard button's payload (a string, a timestamp) is not an image.
        const given = isRecord(msg.payload) && "data" in msg.payload ? readSample(msg) : undefined;
        // A region in original pixels is placed through the image's own transform (a remembered part keeps its inspection's).
        const sample = given === undefined ? undefined : { ...given, transform: readTensorTransform(msg, given.tensor) };
        msg.payload = await engine.confirm({ verdict: request.verdict, partId: request.partId, sample, region: request.region });
        // Handled here: a threshold wired after must not take the verdict for a calibration sample.
        delete msg["confirm"];
      } else {
        const sample = readSample(msg);
        if (request.kind === "learn") {
          msg.payload = { learning: true, ...(await engine.learn(sample)) };
        } else {
          // Checked before the inspection, so a bad transform costs no inference.
          const transform = readTensorTransform(msg, sample.tensor);
          // The transform also travels into the model: supervised boxes come back in original pixels.
          const result = await engine.inspect({ ...sample, transform }, request.partId);
          writeInspection(msg, result, engine.methodName, options.mapSize, transform, request.partId);
        }
      }
    }

    node.on("close", (removed: boolean, done: () => void) => {
      closing = true;
      sessionPool.demand(node.id, undefined);
      detachDetectorController(node);
      started
        .catch(() => undefined)
        .then(() => engines.closeAll())
        .finally(() => selectionWrites)
        .catch((error: unknown) => node.warn(translateError(RED, TYPE, error).message))
        .finally(() => {
          if (removed) status.clear();
          done();
        });
    });
  }

  RED.nodes.registerType(TYPE, DetectorNode);
  registerDetectorAdmin(RED, TYPE);
  // The dialog checks Backbone, Model file, Names file and Good images with it.
  registerFileCheck(RED);
};
