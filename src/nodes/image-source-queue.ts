/**
 * The image source's overload handling: a bounded queue for input messages and for watched
 * files, and, under `block`, back-pressure from the detectors downstream.
 *
 * - Messages (file, URL, payload modes; a folder listing trigger) wait in the queue and are read
 *   one at a time. A wire cannot be held back, so under `block` a message with no room is
 *   refused with `queueFull` like under `drop-newest`.
 * - Watched files: under `drop-oldest` / `drop-newest` a file with no room is reported with
 *   `queueFull` (its name in msg.filename) and not read. Under `block` nothing is dropped: new
 *   names wait in arrival order (only the names, the files stay on disk) until the queue has room.
 * - Under `block`, before the source reads and sends an image of its own (watched or listed
 *   files), it waits until fewer than `queueSize` of the images it sent are unfinished by a
 *   detector downstream, and fewer than the smallest queue on the way (preprocess, detector)
 *   holds, so a burst of files never piles up in memory and never overflows a node after it.
 *   A node that refuses or drops an image gives its place back at once.
 */
import type { Node, NodeAPI, NodeMessage } from "node-red";
import { DefectError } from "../lib/errors";
import { InputQueue, type QueueOptions } from "../lib/queue";
import { teachesTheLine, type MessageQueueInfo } from "../lib/message";
import { translateError, type ErrorRouter } from "./shared/errors";
import type { InputHandler } from "./shared/input";
import { createTransitLimiter, downstreamOf, droppedNote, handleQueuedInput, type Downstream, type QueuedInput } from "./shared/queue";
import type { StatusReporter } from "./shared/status";

/** A message filtered out on its way (never reaching a detector) frees its place after this. */
const TRANSIT_EXPIRE_MS = 60_000;
/** The nodes whose finished messages give a blocking source its room back. */
const SETTLING_TYPES = ["defect-detector"] as const;

export interface SourceQueueOptions {
  type: string;
  queue: QueueOptions;
  errors: ErrorRouter;
  status: StatusReporter<string>;
  /** Aborted when the node stops: waits end, nothing more is read. */
  signal: AbortSignal;
  /** Handles one input message (one at a time). */
  handler: InputHandler;
  /** Reads and sends one watched file (called one at a time, in arrival order). */
  emitFile(path: string): Promise<void>;
}

export interface SourceQueue {
  /** A watched file is complete. */
  file(path: string): void;
  /** Resolves when the source may read and send one more image of its own. */
  room(): Promise<void>;
  /** Counts a message the source sent of its own (after room()) as in transit. */
  sent(msg: NodeMessage): void;
  /** What processed watched files carry as msg.queue. */
  info(): MessageQueueInfo;
}

export function createSourceQueue(RED: NodeAPI, node: Node, options: SourceQueueOptions): SourceQueue {
  const { type, queue: queueOptions, errors, status, signal } = options;
  const blocking = queueOptions.policy === "block";
  const transit = createTransitLimiter(queueOptions.size, TRANSIT_EXPIRE_MS);
  let messages: QueuedInput | undefined;
  /** Names of watched files waiting for room under `block`; only names, so memory stays small. */
  const pending: string[] = [];
  let feeding = false;

  /** Messages and watched files dropped since deploy. */
  const droppedSoFar = (): number => (messages?.stats.dropped ?? 0) + files.stats.dropped;
  const showDrops = (): void => status.setNote(droppedNote(RED, type, droppedSoFar()));

  const files = new InputQueue<string>(queueOptions, {
    run: (path) => options.emitFile(path),
    drop(path, reason) {
      if (reason === "closed") return;
      const { size, policy } = queueOptions;
      const dropped = droppedSoFar();
      const error = new DefectError("queueFull", `Input queue full (${size} waiting, policy ${policy}): file ${path} not read, ${dropped} so far`, {
        size,
        policy,
        dropped,
      });
      // A Catch node gets the file's name; the status keeps its state and counts the drop.
      node.error(translateError(RED, type, error), { _msgid: RED.util.generateId(), filename: path });
      showDrops();
    },
  });

  /** Moves waiting names into the queue while it has room (block mode). */
  function feed(): void {
    while (pending.length > 0 && files.hasRoom() && !signal.aborted) files.push(pending.shift() as string);
    if (pending.length === 0 || feeding || signal.aborted) return;
    feeding = true;
    void files.whenRoom().then(() => {
      feeding = false;
      feed();
    });
  }

  /**
   * Only a detector downstream reports what it finished, so without one nothing is waited for;
   * with one, at most as many images are in transit as the smallest queue on the way holds.
   * Looked up each time: a partial deploy may rewire or resize the nodes after this one.
   */
  const downstream = (): Downstream | undefined => {
    if (!blocking) return undefined;
    const found = downstreamOf(RED, node, SETTLING_TYPES);
    return found.settles ? found : undefined;
  };

  messages = handleQueuedInput(RED, node, errors, {
    type,
    queue: queueOptions,
    handler: options.handler,
    teaching: teachesTheLine,
    settles: false,
    onChange: showDrops,
  });
  node.on("close", () => {
    files.close();
    pending.length = 0;
    transit.limiter.clear();
  });

  return {
    file(path) {
      if (signal.aborted) return;
      if (blocking) {
        pending.push(path);
        feed();
      } else {
        files.push(path);
      }
    },
    async room() {
      const found = downstream();
      if (found !== undefined) await transit.limiter.whenRoom(signal, Math.min(queueOptions.size, found.capacity));
    },
    sent(msg) {
      if (downstream() !== undefined) transit.track(msg);
    },
    info() {
      const stats = files.stats;
      return { size: stats.size, depth: stats.depth + pending.length, dropped: droppedSoFar() };
    },
  };
}
