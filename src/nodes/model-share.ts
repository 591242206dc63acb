/**
 * defect-model-share: the line's learned model goes to its inspection workers over the broker.
 * Publish (line): after a fit (the detector's learning or command answer wired in) or on
 * msg.command "publish", the detector's saved model file goes out as a retained, versioned MQTT
 * message (src/lib/scale/model-share.ts). Receive (worker): the file is checked whole, written
 * beside the worker detector's model and taken by the detector's reload (loaded and matched, then
 * swapped in one step); the worker answers with its version, or the refusal (modelMismatch,
 * modelFileInvalid), on output 1 for a status topic. Output 2 asks a dynamic `mqtt in` to
 * subscribe to the parts once the worker has a model, so no part meets an untrained detector.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { hostname } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { incomingPath, modelFilePath } from "../lib/detector";
import { DefectError, describeError, isDefectError } from "../lib/errors";
import { isControlAnswer, readCommand, readMqttDelivery, writeMqttPublication } from "../lib/message";
import {
  decodeModelShare,
  encodeModelShare,
  parseShareOptions,
  readSavedModel,
  savedModelVersion,
  writeIncomingModel,
  type ModelShare,
  type ShareOptions,
} from "../lib/scale";
import { findDetectorController, type DetectorController } from "./detector-admin";
import type { ModelShareNodeDef } from "./model-share-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput, type SendFunction } from "./shared/input";
import { baseDirectory } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-model-share";
const DETECTOR_TYPE = "defect-detector";
const QOS = 1;
/** A retained model arrives right at deploy, maybe before the detector has opened: it is waited for this long. */
const DETECTOR_WAIT_MS = 60_000;
const DETECTOR_POLL_MS = 100;
const STATUS_FORMAT = "defect-model-status";

const STATES = {
  ready: { fill: "green", shape: "dot" },
  waiting: { fill: "grey", shape: "ring" },
  shared: { fill: "green", shape: "dot" },
  loading: { fill: "blue", shape: "ring" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

type ShareState = "loaded" | "current" | "refused";

function short(sha: string): string {
  return sha.slice(0, 12);
}

export = function register(RED: NodeAPI): void {
  function ModelShareNode(this: Node, config: ModelShareNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: ShareOptions;
    try {
      options = parseShareOptions({ ...config }, `${hostname()}-${process.pid}`);
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    const modelPath = modelFilePath(baseDirectory(RED), options.detector);
    let closing = false;
    let lastShared: string | undefined;
    let subscribed = false;
    /** Received models are taken one at a time, in arrival order. */
    let queue: Promise<unknown> = Promise.resolve();

    async function publish(msg: NodeMessageInFlow, send: SendFunction): Promise<void> {
      const asked = readCommand(msg, ["publish"]) === "publish";
      // Inspections pass the same wire after a detector: only answers (a fit, a rollback) can change the file.
      if (!asked && !isControlAnswer(msg.payload)) return;
      const version = await savedModelVersion(modelPath);
      if (!asked && (version === undefined || version === lastShared)) return;
      const { share, fields } = await encodeModelShare(await readSavedModel(modelPath));
      const out: NodeMessage = { _msgid: RED.util.generateId() };
      writeMqttPublication(out as unknown as Record<string, unknown>, { ...fields, qos: QOS, retain: true });
      if (typeof msg.topic === "string" && asked) out.topic = msg.topic;
      lastShared = share.sha256;
      send(out);
      status.setText("shared", RED._(`${TYPE}.status.shared`, { version: short(share.sha256), created: share.created }));
    }

    async function detector(): Promise<Required<Pick<DetectorController, "reload">>> {
      const deadline = Date.now() + DETECTOR_WAIT_MS;
      for (;;) {
        const found = findDetectorController(RED, DETECTOR_TYPE, options.detector);
        if (found?.reload !== undefined) return { reload: found.reload };
        if (closing || Date.now() > deadline) {
          throw new DefectError("modelLoadFailed", `no started defect-detector with id ${options.detector} on this Node-RED to take the model`, {
            path: options.detector,
            reason: "no such detector",
          });
        }
        await delay(DETECTOR_POLL_MS);
      }
    }

    function answer(state: ShareState, share: ModelShare | undefined, extra: Record<string, unknown>): NodeMessage {
      return {
        _msgid: RED.util.generateId(),
        payload: {
          format: STATUS_FORMAT,
          version: 1,
          worker: options.worker,
          state,
          model: share === undefined ? null : { version: share.sha256, created: share.created, method: share.method },
          ...extra,
        },
        qos: QOS,
      } as NodeMessage;
    }

    function subscribeOnce(send: SendFunction): void {
      if (subscribed || options.subscribe === "") return;
      subscribed = true;
      // Node-RED's dynamic mqtt in takes msg.topic as a subscription object: the parts as Buffers, QoS 1.
      const subscription = { _msgid: RED.util.generateId(), action: "subscribe", topic: { topic: options.subscribe, qos: QOS, datatype: "buffer" } };
      send([null, subscription as unknown as NodeMessage]);
    }

    async function receive(msg: NodeMessageInFlow, send: SendFunction): Promise<void> {
      const delivery = readMqttDelivery(msg);
      let share: ModelShare | undefined;
      try {
        const decoded = await decodeModelShare(delivery.payload, delivery.userProperties);
        share = decoded.share;
        if ((await savedModelVersion(modelPath)) === share.sha256) {
          send([answer("current", share, {}), null]);
        } else {
          status.set("loading");
          await writeIncomingModel(incomingPath(modelPath), decoded.bytes);
          const model = await (await detector()).reload();
          send([answer("loaded", share, { detector: model["model"] ?? null }), null]);
        }
      } catch (error) {
        const code = isDefectError(error) ? error.code : "unexpected";
        send([answer("refused", share, { error: { code, message: describeError(error) } }), null]);
        throw error;
      }
      status.setText("shared", RED._(`${TYPE}.status.loaded`, { version: short(share.sha256), created: share.created }));
      subscribeOnce(send);
    }

    handleInput(node, errors, (msg, send) => {
      if (options.mode === "publish") return publish(msg, send);
      const run = queue.then(() => receive(msg, send));
      queue = run.catch(() => undefined);
      return run;
    });

    status.set(options.mode === "publish" ? "ready" : "waiting");
    node.on("close", (removed: boolean, done: () => void) => {
      closing = true;
      void queue.finally(() => {
        if (removed) status.clear();
        done();
      });
    });
  }

  RED.nodes.registerType(TYPE, ModelShareNode);
};
