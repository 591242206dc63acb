/** The scale-out nodes' settings as the editor saves them, read into typed options or invalidOption. */
import { integerOption, invalidOption, numberOption, oneOf, optionText } from "../config/option-values";
import type { LedgerOptions } from "./ledger";

export const WIRE_MODES = ["part-out", "part-in", "result-out"] as const;
export type WireMode = (typeof WIRE_MODES)[number];
export const SHARE_MODES = ["publish", "receive"] as const;
export type ShareMode = (typeof SHARE_MODES)[number];

/** MQTT topics: no wildcards where one is published; at most the broker's limit of 65535 bytes. */
const MAX_TOPIC_BYTES = 65535;

export interface WireOptions {
  mode: WireMode;
  /** Set on what is published (empty: msg.topic stays). */
  topic: string;
  /** Names this worker in the results it publishes. */
  worker: string;
}

export interface ShareOptions {
  mode: ShareMode;
  /** The id of the detector whose model is shared (publish) or replaced (receive). */
  detector: string;
  /** Names this worker in its status answers. */
  worker: string;
  /** Receive: subscribed to (by a dynamic `mqtt in`) once the worker has a model; empty: nothing sent. */
  subscribe: string;
}

export const DEFAULT_LEDGER: LedgerOptions = { timeoutMs: 10_000, retries: 1, maxPending: 1000, remember: 10_000 };
const MAX_TIMEOUT_S = 3600;
const MAX_RETRIES = 10;
const MAX_PENDING = 100_000;

function publishTopic(option: string, value: unknown): string {
  const topic = optionText(value);
  if (/[+#]/.test(topic) || Buffer.byteLength(topic) > MAX_TOPIC_BYTES) throw invalidOption(option, "an MQTT topic without wildcards", value);
  return topic;
}

function subscribeTopic(option: string, value: unknown): string {
  const topic = optionText(value);
  const levels = topic.split("/");
  const wildcardsOk = levels.every((level, i) => (level !== "#" || i === levels.length - 1) && (level === "#" || level === "+" || !/[+#]/.test(level)));
  if (!wildcardsOk || Buffer.byteLength(topic) > MAX_TOPIC_BYTES) throw invalidOption(option, "an MQTT topic filter such as $share/workers/parts/line1", value);
  return topic;
}

/** A worker's name defaults to the host and process, which tells workers apart on one broker. */
function workerName(value: unknown, fallback: string): string {
  const name = optionText(value);
  return name === "" ? fallback : name;
}

export function parseWireOptions(config: Record<string, unknown>, defaultWorker: string): WireOptions {
  return {
    mode: oneOf("mode", config["mode"], WIRE_MODES, "part-out"),
    topic: publishTopic("topic", config["topic"]),
    worker: workerName(config["worker"], defaultWorker),
  };
}

export function parseLedgerOptions(config: Record<string, unknown>): LedgerOptions {
  const timeoutS = numberOption("timeout", config["timeout"], { min: 0, max: MAX_TIMEOUT_S, minIncluded: false }, DEFAULT_LEDGER.timeoutMs / 1000);
  return {
    timeoutMs: Math.round(timeoutS * 1000),
    retries: integerOption("retries", config["retries"], 0, MAX_RETRIES, DEFAULT_LEDGER.retries),
    maxPending: integerOption("maxPending", config["maxPending"], 1, MAX_PENDING, DEFAULT_LEDGER.maxPending),
    remember: DEFAULT_LEDGER.remember,
  };
}

export function parseShareOptions(config: Record<string, unknown>, defaultWorker: string): ShareOptions {
  const detector = optionText(config["detector"]);
  if (detector === "") throw invalidOption("detector", "the detector whose model is shared", config["detector"]);
  return {
    mode: oneOf("mode", config["mode"], SHARE_MODES, "publish"),
    detector,
    worker: workerName(config["worker"], defaultWorker),
    subscribe: subscribeTopic("subscribe", config["subscribe"]),
  };
}
