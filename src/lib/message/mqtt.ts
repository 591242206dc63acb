/**
 * The MQTT v5 fields Node-RED's core `mqtt in` / `mqtt out` nodes read and write on a message
 * (msg.userProperties, msg.contentType, msg.qos, msg.retain), and the scale-out properties
 * beside them: msg.part (what the wire said about a part a worker received) and msg.result
 * carried across the broker as it is.
 */
import { isRecord, type MessageFields, type MessageView } from "./record";
import type { ResultRecord } from "./result";

/** What a message becomes on the wire; `mqtt out` publishes it as it is. */
export interface MqttPublication {
  payload: Buffer | string;
  contentType: string;
  userProperties: Record<string, string>;
  qos: 0 | 1 | 2;
  retain: boolean;
}

/** What `mqtt in` delivered (MQTT v5): the raw fields, unchecked. */
export interface MqttDelivery {
  payload: unknown;
  contentType: unknown;
  userProperties: unknown;
}

/** A part as the worker received it: msg.part. */
export interface PartInfo {
  id: string;
  attempt: number;
  captured: string;
  contentType: string;
}

export function readMqttDelivery(msg: MessageView): MqttDelivery {
  return { payload: msg.payload, contentType: msg.contentType, userProperties: msg.userProperties };
}

/** Sets what `mqtt out` publishes; an incoming message's user properties are replaced, not merged. */
export function writeMqttPublication(msg: MessageFields, publication: MqttPublication): void {
  msg.payload = publication.payload;
  msg["contentType"] = publication.contentType;
  msg["userProperties"] = { ...publication.userProperties };
  msg["qos"] = publication.qos;
  msg["retain"] = publication.retain;
}

/** Removes the MQTT fields of a delivery, so they do not travel on into a later publication. */
export function clearMqttFields(msg: MessageFields): void {
  for (const key of ["userProperties", "contentType", "responseTopic", "correlationData", "messageExpiryInterval", "retain", "qos"]) delete msg[key];
}

export function writePartInfo(msg: MessageFields, part: PartInfo): void {
  msg["part"] = { ...part };
}

/** msg.part when a part-in node wrote it. */
export function readPartInfo(msg: MessageView): PartInfo | undefined {
  const part = msg.part;
  if (!isRecord(part) || typeof part["id"] !== "string") return undefined;
  const attempt = part["attempt"];
  return {
    id: part["id"],
    attempt: Number.isSafeInteger(attempt) && (attempt as number) >= 1 ? (attempt as number) : 1,
    captured: typeof part["captured"] === "string" ? part["captured"] : "",
    contentType: typeof part["contentType"] === "string" ? part["contentType"] : "",
  };
}

/** Puts a result record that came over the wire on the message, as the worker's threshold made it. */
export function writeResultRecord(msg: MessageFields, record: ResultRecord): void {
  msg["result"] = record;
}
