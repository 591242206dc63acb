/** Reading and writing the msg properties that all nodes of the package share. */
import type { NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import type { SourceImage } from "../../lib/source/load-image";

export type { SourceImage } from "../../lib/source/load-image";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** msg.image as found on a message: only `buffer` is relied on, the rest is carried along. */
export interface FoundImage {
  image: Record<string, unknown>;
  buffer: Buffer;
}

/** msg.image when it carries the encoded bytes as a Buffer, else undefined. */
export function findMessageImage(msg: NodeMessage): FoundImage | undefined {
  const image = msg["image"];
  if (!isRecord(image)) return undefined;
  const buffer = image["buffer"];
  return Buffer.isBuffer(buffer) ? { image, buffer } : undefined;
}

/**
 * Puts an image on the message the way the image source promises: payload and image.buffer are
 * the same Buffer, and a message without a topic gets the file name or URL as topic.
 */
export function setMessageImage(msg: NodeMessage, image: SourceImage, topic: string | undefined): void {
  msg.payload = image.buffer;
  msg["image"] = image;
  if (image.path !== undefined) msg["filename"] = image.path;
  if ((msg.topic === undefined || msg.topic === "") && topic !== undefined) msg.topic = topic;
}

/** Adds one stage's duration to msg.timings, keeping what earlier nodes recorded. */
export function addTiming(msg: NodeMessage, name: string, milliseconds: number): void {
  const timings = isRecord(msg["timings"]) ? msg["timings"] : {};
  timings[name] = milliseconds;
  msg["timings"] = timings;
}

/** A non-empty string property, trimmed; anything else is undefined. */
export function stringProperty(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

/**
 * A message property named in the editor (e.g. "camera.file"). Node-RED throws when a parent of
 * a nested name is missing; that is "no value" here, so the caller can say what is missing.
 */
export function messageProperty(RED: NodeAPI, msg: NodeMessageInFlow, path: string): unknown {
  try {
    return RED.util.getMessageProperty(msg, path) as unknown;
  } catch {
    return undefined;
  }
}
