/**
 * The Node-RED side of the bounded input queue: messages wait in a queue of the configured size
 * and are handled one at a time; a message the queue has no room for ends with
 * done(err) code `queueFull`, so a Catch node receives it (and nothing is logged when one does),
 * and the node's status counts the drops. Processed messages carry `msg.queue`.
 *
 * It also carries back-pressure between nodes: an image source in `block` mode counts the
 * images it sent that no node has finished yet; the detector (and any node of the package that
 * refuses a message) reports each message it finished with `settleMessage`.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { DefectError } from "../../lib/errors";
import { InputQueue, TransitLimiter, type DropReason, type QueueOptions, type QueueStats } from "../../lib/queue";
import { writeQueueInfo } from "../../lib/message";
import { translateError, type ErrorRouter } from "./errors";
import type { InputHandler, SendFunction } from "./input";

export interface QueuedMessage {
  msg: NodeMessageInFlow;
  send: SendFunction;
  done: (err?: Error) => void;
}

export interface QueuedInputOptions {
  type: string;
  queue: QueueOptions;
  handler: InputHandler;
  /**
   * Messages that teach (learning, calibration, commands): they wait in a queue of their own, so
   * inspections never push them out nor they inspections; see TEACHING_QUEUE_SIZE.
   */
  teaching?: (msg: NodeMessageInFlow) => boolean;
  /** After each message processed or dropped, e.g. to show the drop count. */
  onChange?: (stats: QueueStats) => void;
  /** Whether finishing a message here releases its place at a blocking source upstream. */
  settles: boolean;
}

/** The "dropped N" note for a status, or none while nothing was dropped. */
export function droppedNote(RED: NodeAPI, type: string, dropped: number): string | undefined {
  return dropped === 0 ? undefined : RED._(`${type}.status.dropped`, { count: dropped });
}

/**
 * Teaching messages waiting at one node, behind the one running. They are handled one at a time
 * like inspections (each holds an image or tensor until its turn), so a burst of them is bounded
 * too: one more is refused with queueFull, never pushing out an earlier one. 16 covers a learning
 * round of the few-shot setting at once; larger folders come through a blocking image source,
 * which waits for room.
 */
export const TEACHING_QUEUE_SIZE = 16;

/** What the caller reads of a node's queues: both queues' drops together. */
export interface QueuedInput {
  readonly stats: QueueStats;
}

/**
 * Registers the input handler: queued messages run one at a time through `handler`; returns the
 * queues' stats. Waiting messages are ended with done() when the node closes (a redeploy
 * or stop: the flow that would process them is going away) and counted in a log line.
 */
export function handleQueuedInput(RED: NodeAPI, node: Node, errors: ErrorRouter, options: QueuedInputOptions): QueuedInput {
  const { type, handler } = options;
  // A message refused or dropped here has ended its journey, wherever it was going; one handled
  // and sent on is finished only by the nodes that end it (options.settles).
  const finished = (msg: NodeMessage, ended: boolean): void => {
    if (ended || options.settles) settleMessage(msg._msgid);
  };
  let closedDrops = 0;
  const stats = (): QueueStats => ({ ...inspections.stats, dropped: inspections.stats.dropped + teaching.stats.dropped });
  const makeQueue = (queueOptions: QueueOptions, marks: boolean): InputQueue<QueuedMessage> => {
    const queue: InputQueue<QueuedMessage> = new InputQueue<QueuedMessage>(queueOptions, {
      async run({ msg, send, done }) {
        if (marks) {
          const now = queue.stats;
          writeQueueInfo(msg, { size: now.size, depth: now.depth, dropped: stats().dropped });
        }
        let ended = true;
        try {
          await handler(msg, send);
          ended = false;
          done();
        } catch (error) {
          errors.fail(error, done);
        } finally {
          finished(msg, ended);
          options.onChange?.(stats());
        }
      },
      drop({ msg, done }, reason: DropReason) {
        if (reason === "closed") {
          closedDrops += 1;
          done();
        } else {
          const { size, policy } = queue.options;
          const dropped = stats().dropped;
          const error = new DefectError("queueFull", `Input queue full (${size} waiting, policy ${policy}): message dropped, ${dropped} so far`, {
            size,
            policy,
            dropped,
          });
          // Not errors.fail: a full queue is load, not a fault of the node, so the status stays
          // as it is and only its drop count changes.
          done(translateError(RED, type, error));
        }
        finished(msg, true);
        options.onChange?.(stats());
      },
    });
    return queue;
  };
  const inspections = makeQueue(options.queue, true);
  const teaching = makeQueue({ size: TEACHING_QUEUE_SIZE, policy: "drop-newest" }, false);
  // What a blocking source upstream may keep in transit through this node without a drop here.
  const capacity = Math.min(options.queue.size, TEACHING_QUEUE_SIZE) + 1;
  capacities.set(node.id, capacity);
  node.on("input", (msg, send, done) => {
    (options.teaching?.(msg) === true ? teaching : inspections).push({ msg, send, done });
  });
  node.on("close", () => {
    if (capacities.get(node.id) === capacity) capacities.delete(node.id);
    inspections.close();
    teaching.close();
    if (closedDrops > 0) node.log(`${closedDrops} queued messages not processed: the node was stopped`);
  });
  return {
    get stats() {
      return stats();
    },
  };
}

/** By node id: how many messages a node with a queue holds at most (waiting + the one running). */
const capacities = new Map<string, number>();

/** Message ids sent by blocking sources and not yet finished, with the limiter holding each. */
const inTransit = new Map<string, TransitLimiter>();

/** A message was finished (processed, refused or dropped): its source may send another. */
export function settleMessage(msgid: string | undefined): void {
  if (msgid === undefined) return;
  inTransit.get(msgid)?.settle(msgid);
}

/**
 * Limits how many messages of one blocking source are in transit. Places of messages never
 * settled (filtered out on the way) are given back after `expireMs`.
 */
export function createTransitLimiter(
  capacity: number,
  expireMs: number,
): {
  limiter: TransitLimiter;
  /** Counts `msg` as in transit; false when it has no id to be settled by. */
  track(msg: NodeMessage): boolean;
} {
  const limiter = new TransitLimiter(capacity, expireMs, (id) => {
    if (inTransit.get(id) === limiter) inTransit.delete(id);
  });
  return {
    limiter,
    track(msg) {
      const id = msg._msgid;
      if (id === undefined) return false;
      limiter.add(id);
      inTransit.set(id, limiter);
      return true;
    },
  };
}

/** Number of messages of blocking sources in transit (for the load script's leak check). */
export function transitCount(): number {
  return inTransit.size;
}

interface WiredNode {
  type: string;
  wires?: string[][];
}

/** What a blocking source finds along its wires (same runtime; link nodes are not followed). */
export interface Downstream {
  /** Whether a node of the settling types is reachable: only then is there anything to wait for. */
  settles: boolean;
  /**
   * The fewest messages any queued node on the way to (and including) the settling nodes can
   * hold: a source that keeps no more than this in transit never makes one of them drop.
   */
  capacity: number;
}

export function downstreamOf(RED: NodeAPI, node: Node, settlingTypes: readonly string[]): Downstream {
  const seen = new Set<string>([node.id]);
  const pending = [...((node as unknown as WiredNode).wires ?? []).flat()];
  let settles = false;
  let capacity = Number.POSITIVE_INFINITY;
  while (pending.length > 0) {
    const id = pending.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const next = RED.nodes.getNode(id) as unknown as WiredNode | null;
    if (next === null || next === undefined) continue;
    capacity = Math.min(capacity, capacities.get(id) ?? Number.POSITIVE_INFINITY);
    // Past a settling node the message no longer counts against the source.
    if (settlingTypes.includes(next.type)) settles = true;
    else pending.push(...(next.wires ?? []).flat());
  }
  return { settles, capacity };
}
