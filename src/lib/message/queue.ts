/** msg.queue: the queue of the node that sent the message, as the image source, preprocess and detector report it. */
import type { MessageFields } from "./record";

/** What processed messages carry as `msg.queue`, read when the message was taken. */
export interface MessageQueueInfo {
  size: number;
  /** Messages still waiting behind this one. */
  depth: number;
  /** Messages this node dropped since deploy. */
  dropped: number;
}

/** Replaces msg.queue: a node downstream reports its own queue, not the one before it. */
export function writeQueueInfo(msg: MessageFields, info: MessageQueueInfo): void {
  msg["queue"] = { size: info.size, depth: info.depth, dropped: info.dropped } satisfies MessageQueueInfo;
}
