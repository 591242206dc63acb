/**
 * A bounded input queue, free of Node-RED: items run one at a time in arrival order, at most
 * `size` wait behind the one running, and an item that does not fit is handed to `drop` (never
 * forgotten), so memory stays bounded however fast items arrive and every item is either run or
 * dropped exactly once.
 */
import { integerOption, oneOf } from "../config/option-values";

export const OVERFLOW_POLICIES = ["drop-oldest", "drop-newest", "block"] as const;
/**
 * What a full queue does with one more item. `block` is for producers that can wait (a watched
 * folder): they call `whenRoom()` before `push()`. A producer that cannot wait (a wire in a
 * flow) is refused as under `drop-newest`, because holding its item would unbound memory.
 */
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

export const DEFAULT_QUEUE_SIZE = 8;
export const MAX_QUEUE_SIZE = 10_000;

export interface QueueOptions {
  /** Items that may wait behind the one running. */
  size: number;
  policy: OverflowPolicy;
}

/** Reads the editor's queue fields; empty fields take the node's defaults. */
export function parseQueueOptions(
  input: { queueSize?: unknown; overflow?: unknown },
  defaults: QueueOptions = { size: DEFAULT_QUEUE_SIZE, policy: "drop-oldest" },
): QueueOptions {
  return {
    size: integerOption("queueSize", input.queueSize, 1, MAX_QUEUE_SIZE, defaults.size),
    policy: oneOf("overflow", input.overflow, OVERFLOW_POLICIES, defaults.policy),
  };
}

/** Why an item was dropped: no room, or the queue was closed before its turn. */
export type DropReason = "overflow" | "closed";

export interface QueueStats {
  size: number;
  /** Items waiting, not counting the one running. */
  depth: number;
  running: boolean;
  /** Items that completed `run` (resolved or rejected). */
  processed: number;
  /** Items dropped for want of room since the queue was made. */
  dropped: number;
}

export interface QueueHandlers<T> {
  /** The work for one item; a rejection is the handler's own business (it is not retried). */
  run(item: T): Promise<void>;
  /** Called once for each item that will never run. */
  drop(item: T, reason: DropReason): void;
}

export class InputQueue<T> {
  private readonly waiting: T[] = [];
  private running = false;
  private closed = false;
  private processed = 0;
  private dropped = 0;
  private roomWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly options: QueueOptions,
    private readonly handlers: QueueHandlers<T>,
  ) {}

  get stats(): QueueStats {
    return { size: this.options.size, depth: this.waiting.length, running: this.running, processed: this.processed, dropped: this.dropped };
  }

  /** Whether one more item would wait without a drop. */
  hasRoom(): boolean {
    return this.waiting.length < this.options.size;
  }

  /** Resolves once there is room (at once if there is, or if the queue is closed). */
  whenRoom(): Promise<void> {
    if (this.hasRoom() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves once nothing runs or waits. */
  whenIdle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Queues an item; returns false when this item itself was dropped (a full queue under
   * `drop-newest` or `block`, or a closed queue). Under `drop-oldest` the oldest waiting item
   * makes room and true is returned.
   */
  push(item: T): boolean {
    if (this.closed) {
      this.handlers.drop(item, "closed");
      return false;
    }
    if (!this.hasRoom()) {
      this.dropped += 1;
      if (this.options.policy !== "drop-oldest") {
        this.handlers.drop(item, "overflow");
        return false;
      }
      // size >= 1, so a full queue has an oldest item.
      this.handlers.drop(this.waiting.shift() as T, "overflow");
    }
    this.waiting.push(item);
    this.pump();
    return true;
  }

  /** Drops every waiting item (reason "closed") and every later push; the running item finishes. */
  close(): void {
    this.closed = true;
    for (const item of this.waiting.splice(0)) this.handlers.drop(item, "closed");
    this.wake();
  }

  private pump(): void {
    if (this.running) return;
    const item = this.waiting.shift();
    if (item === undefined) {
      this.wake();
      return;
    }
    this.running = true;
    // Taking an item frees a place: producers waiting for room may go on.
    this.wakeRoom();
    const finish = (): void => {
      this.running = false;
      this.processed += 1;
      this.pump();
    };
    let work: Promise<void>;
    try {
      work = this.handlers.run(item);
    } catch {
      // A handler that throws synchronously must not stall the queue.
      work = Promise.resolve();
    }
    work.then(finish, finish);
  }

  private wakeRoom(): void {
    if (!this.hasRoom() && !this.closed) return;
    for (const resolve of this.roomWaiters.splice(0)) resolve();
  }

  private wake(): void {
    this.wakeRoom();
    if (this.running || this.waiting.length > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
