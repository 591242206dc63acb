/**
 * msg.image: the encoded image as the image source read it. `buffer` is the one field later
 * nodes rely on (preprocess decodes it, mask-to-region draws its overlay on it); the rest
 * (format, size, source) is carried along.
 */
import type { SourceImage } from "../source/load-image";
import { finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";

/** msg.image as found on a message. */
export interface FoundImage {
  image: Record<string, unknown>;
  buffer: Buffer;
}

/** msg.image when it carries the encoded bytes as a Buffer, else undefined. */
export function findMessageImage(msg: MessageView): FoundImage | undefined {
  const image = msg.image;
  if (!isRecord(image)) return undefined;
  const buffer = image["buffer"];
  return Buffer.isBuffer(buffer) ? { image, buffer } : undefined;
}

/** The displayed size msg.image reports, when it reports one. */
export function messageImageSize(msg: MessageView): { width: number; height: number } | undefined {
  const image = msg.image;
  if (!isRecord(image)) return undefined;
  const width = finiteNumber(image["width"]);
  const height = finiteNumber(image["height"]);
  return width === undefined || height === undefined ? undefined : { width, height };
}

/** Sets msg.image alone: for a node that made the image from bytes in msg.payload. */
export function writeMessageImage(msg: MessageFields, image: SourceImage): void {
  msg["image"] = image;
}

/**
 * Puts an image on the message the way the image source promises: payload and image.buffer are
 * the same Buffer, and a message without a topic gets the file name or URL as topic.
 */
export function setMessageImage(msg: MessageFields, image: SourceImage, topic: string | undefined): void {
  msg.payload = image.buffer;
  writeMessageImage(msg, image);
  if (image.path !== undefined) msg["filename"] = image.path;
  if ((msg["topic"] === undefined || msg["topic"] === "") && topic !== undefined) msg["topic"] = topic;
}
