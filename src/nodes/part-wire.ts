/**
 * defect-part-wire: turns flow messages into the scale-out wire format and back (src/lib/scale/wire.ts),
 * so Node-RED's core `mqtt out` / `mqtt in` (MQTT v5, QoS 1) carry parts and results unchanged.
 * part-out (line): an image becomes a part (bytes as payload, ids as user properties);
 * part-in (worker): a part becomes an image message with msg.partId for preprocess and detector;
 * result-out (worker): a verdict's msg.result becomes a JSON result for the line's collector.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { hostname } from "node:os";
import { DefectError } from "../lib/errors";
import {
  readRecipe,
  writeRecipe,
  clearMqttFields,
  describe,
  findMessageImage,
  isControlAnswer,
  readIdentifier,
  readMqttDelivery,
  readPartInfo,
  readResultRecord,
  writeMqttPublication,
  writePartInfo,
} from "../lib/message";
import { contentTypeOf, decodePart, encodePart, encodeResult, parseWireOptions, type MqttFields, type WireOptions } from "../lib/scale";
import type { PartWireNodeDef } from "./part-wire-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput } from "./shared/input";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-part-wire";
/** Parts and results are worth a redelivery: QoS 1 (at least once), the collector drops copies. */
const QOS = 1;
const STATUS_REFRESH_MS = 1000;

const STATES = {
  ready: { fill: "green", shape: "dot" },
  counting: { fill: "green", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

function publish(msg: NodeMessageInFlow, fields: MqttFields, topic: string): void {
  writeMqttPublication(msg, { ...fields, qos: QOS, retain: false });
  if (topic !== "") msg.topic = topic;
}

/** The image bytes of a line message: msg.image.buffer (image source), else a Buffer msg.payload. */
function imageBytes(msg: NodeMessageInFlow): { bytes: Buffer; format: string | undefined } {
  const found = findMessageImage(msg);
  if (found !== undefined) return { bytes: found.buffer, format: typeof found.image["format"] === "string" ? found.image["format"] : undefined };
  if (Buffer.isBuffer(msg.payload) && msg.payload.length > 0) return { bytes: msg.payload, format: undefined };
  throw new DefectError("noImageInput", `No image in msg.image.buffer or msg.payload: expected a Buffer, got ${describe(msg.payload)}`, {
    source: "msg.payload",
    type: describe(msg.payload),
  });
}

export = function register(RED: NodeAPI): void {
  function PartWireNode(this: Node, config: PartWireNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: WireOptions;
    try {
      options = parseWireOptions({ ...config }, `${hostname()}-${process.pid}`);
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    let count = 0;
    let shownAt = 0;

    function counted(): void {
      count += 1;
      const now = Date.now();
      if (now - shownAt < STATUS_REFRESH_MS && status.current === "counting") return;
      shownAt = now;
      status.setText("counting", RED._(`${TYPE}.status.counting`, { count }));
    }

    /** Line: the image and its ids become a part; a part id is the flow's msg.partId, else the message id. */
    function partOut(msg: NodeMessageInFlow): void {
      const { bytes, format } = imageBytes(msg);
      const partId = readIdentifier(msg["partId"], "partId") ?? msg._msgid;
      const fields = encodePart({
        partId,
        image: bytes,
        recipe: readRecipe(msg) ?? null,
        jobId: readIdentifier(msg["jobId"], "jobId") ?? null,
        captured: new Date().toISOString(),
        attempt: 1,
        contentType: contentTypeOf(format),
      });
      msg["partId"] = partId;
      publish(msg, fields, options.topic);
    }

    /** Worker: the part's ids go where the detector and threshold read them; the bytes stay the payload. */
    function partIn(msg: NodeMessageInFlow): void {
      const delivery = readMqttDelivery(msg);
      const part = decodePart(delivery.payload, delivery.contentType, delivery.userProperties);
      clearMqttFields(msg);
      msg.payload = part.image;
      msg["partId"] = part.partId;
      if (part.recipe !== null) writeRecipe(msg, part.recipe);
      if (part.jobId !== null) msg["jobId"] = part.jobId;
      writePartInfo(msg, { id: part.partId, attempt: part.attempt, captured: part.captured, contentType: part.contentType });
      if (options.topic !== "") msg.topic = options.topic;
    }

    /** Worker: the verdict's record, with the part id and the publication it answers. */
    function resultOut(msg: NodeMessageInFlow): boolean {
      const record = readResultRecord(msg);
      if (record === null) {
        // Learning and command answers travel the same wires; they are no result of a part.
        if (isControlAnswer(msg.payload)) return false;
        throw new DefectError("noVerdictInput", "msg.result holds no verdict record: wire this node after threshold or mask to region", {
          type: describe(msg.payload),
        });
      }
      const part = readPartInfo(msg);
      const partId = record.partId ?? part?.id ?? readIdentifier(msg["partId"], "partId");
      if (partId === undefined) {
        throw new DefectError("wireFormatInvalid", "the verdict has no part id (msg.result.partId, msg.part or msg.partId)", { reason: "no part id" });
      }
      publish(msg, encodeResult({ partId, attempt: part?.attempt ?? 1, worker: options.worker, record }), options.topic);
      return true;
    }

    handleInput(node, errors, async (msg, send) => {
      if (options.mode === "part-out") partOut(msg);
      else if (options.mode === "part-in") partIn(msg);
      else if (!resultOut(msg)) return;
      send(msg);
      counted();
    });

    status.set("ready");
    node.on("close", (removed: boolean, done: () => void) => {
      if (removed) status.clear();
      done();
    });
  }

  RED.nodes.registerType(TYPE, PartWireNode);
};
