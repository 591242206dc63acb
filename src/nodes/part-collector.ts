/**
 * defect-part-collector: the line's side of scale-out. Parts (from part-wire in part-out mode)
 * are registered and passed on to `mqtt out` (output 2); results (from `mqtt in`) are matched to
 * them by part id (output 1, the first result of each part only). A part with no result after
 * *Timeout* is published again (*Retries*), then reported lost through Catch (`partLost`), so
 * every part ends exactly once: one result, or one error. The accounting is src/lib/scale/ledger.ts.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { DefectError } from "../lib/errors";
import { clearMqttFields, readMqttDelivery, writeMqttPublication, writeResultRecord } from "../lib/message";
import { decodePart, decodeResult, encodePart, looksLikePart, parseLedgerOptions, PartLedger, type WirePart, type WireResult } from "../lib/scale";
import type { PartCollectorNodeDef } from "./part-collector-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput, type SendFunction } from "./shared/input";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-part-collector";
const QOS = 1;
const STATUS_REFRESH_MS = 1000;
/** The timer looks for late parts this often, at most: a quarter of the timeout, within these bounds. */
const MIN_SWEEP_MS = 20;
const MAX_SWEEP_MS = 1000;

const STATES = {
  ready: { fill: "green", shape: "dot" },
  counting: { fill: "green", shape: "dot" },
  lost: { fill: "yellow", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

export = function register(RED: NodeAPI): void {
  function PartCollectorNode(this: Node, config: PartCollectorNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let ledger: PartLedger;
    try {
      ledger = new PartLedger(parseLedgerOptions({ ...config }));
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    let shownAt = 0;
    let pendingShow: NodeJS.Timeout | undefined;

    function show(): void {
      const wait = shownAt + STATUS_REFRESH_MS - Date.now();
      if (wait > 0) {
        pendingShow ??= setTimeout(() => {
          pendingShow = undefined;
          show();
        }, wait);
        return;
      }
      shownAt = Date.now();
      const c = ledger.counts;
      const text = RED._(`${TYPE}.status.counts`, { sent: c.sent, results: c.results, pending: c.pending, lost: c.lost, duplicates: c.duplicates });
      status.setText(c.lost > 0 ? "lost" : "counting", text);
    }

    function partMessage(part: WirePart, topic: unknown): NodeMessage {
      const msg: NodeMessage = { _msgid: RED.util.generateId(), partId: part.partId } as NodeMessage;
      writeMqttPublication(msg as unknown as Record<string, unknown>, { ...encodePart(part), qos: QOS, retain: false });
      if (typeof topic === "string") msg.topic = topic;
      return msg;
    }

    /** Topics of pending parts, so a part published again goes where the first publication went. */
    const topics = new Map<string, unknown>();

    function register(msg: NodeMessageInFlow, send: SendFunction): void {
      const delivery = readMqttDelivery(msg);
      const part = decodePart(delivery.payload, delivery.contentType, delivery.userProperties);
      const outcome = ledger.send(part, Date.now());
      if (outcome === "full") {
        throw new DefectError("queueFull", `${ledger.options.maxPending} parts already wait for their result (Max pending)`, {
          size: ledger.options.maxPending,
          policy: "drop-newest",
        });
      }
      if (outcome === "reused") {
        throw new DefectError("partIdReused", `part id ${part.partId} is already waiting for a result or ended recently: results could not be told apart`, {
          partId: part.partId,
        });
      }
      topics.set(part.partId, msg.topic);
      send([null, msg]);
    }

    function collect(msg: NodeMessageInFlow, result: WireResult, send: SendFunction): void {
      const fate = ledger.receive(result);
      if (fate !== "first") return;
      topics.delete(result.partId);
      // The delivery's MQTT fields would otherwise go out again with an archive's or a bridge's mqtt out.
      clearMqttFields(msg);
      msg.payload = {
        partId: result.partId,
        verdict: result.record.verdict,
        score: result.record.score,
        worker: result.worker,
        attempt: result.attempt,
      };
      msg["partId"] = result.partId;
      writeResultRecord(msg, result.record);
      send([msg, null]);
    }

    handleInput(node, errors, async (msg, send) => {
      const delivery = readMqttDelivery(msg);
      if (looksLikePart(delivery.userProperties)) register(msg, send);
      else collect(msg, decodeResult(delivery.payload), send);
      show();
    });

    const sweepMs = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, Math.floor(ledger.options.timeoutMs / 4)));
    const sweep = setInterval(() => {
      const { republish, lost } = ledger.due(Date.now());
      if (republish.length > 0) node.send([null, republish.map((part) => partMessage(part, topics.get(part.partId)))]);
      for (const part of lost) {
        topics.delete(part.partId);
        const error = new DefectError(
          "partLost",
          `part ${part.partId} got no result in ${part.attempt} publication(s) of ${ledger.options.timeoutMs} ms each`,
          { partId: part.partId, attempts: part.attempt, timeoutMs: ledger.options.timeoutMs },
        );
        errors.report(error, { _msgid: RED.util.generateId(), partId: part.partId, payload: { partId: part.partId, attempts: part.attempt } } as NodeMessage);
      }
      if (republish.length > 0 || lost.length > 0) show();
    }, sweepMs);

    status.set("ready");
    node.on("close", (removed: boolean, done: () => void) => {
      clearInterval(sweep);
      if (pendingShow !== undefined) clearTimeout(pendingShow);
      pendingShow = undefined;
      ledger.clear();
      topics.clear();
      if (removed) status.clear();
      done();
    });
  }

  RED.nodes.registerType(TYPE, PartCollectorNode);
};
