/**
 * Following messages through the line: each sent message carries an id; it ends either at the
 * tap after mask to region or at the Catch node. The caller reads what it needs from the message
 * at the tap, synchronously, because the message travels on to the alarm, which changes it.
 */
import { performance } from "node:perf_hooks";
import { LineFailure } from "./failure";
import type { RuntimeNode } from "./runtime";
import { isRecord } from "../../lib/message";

/** The property that carries the tap's id on a message. */
const ID = "lineId";

export type Outcome<T> =
  { kind: "result"; sentAt: number; at: number; value: T } | { kind: "caught"; sentAt: number; at: number; code: string; message: string; source: string };

export type Reader<T> = (msg: Readonly<Record<string, unknown>>) => T;

interface Waiter {
  onResult(msg: Readonly<Record<string, unknown>>, at: number): void;
  onCaught(code: string, message: string, source: string, at: number): void;
  abandon(reason: string): void;
}

function text(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

export class LineTap {
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;
  /** Errors of messages this tap did not send (a node failing at deploy, say). */
  readonly strayErrors: string[] = [];
  alarms = 0;

  /** For the tap function node (global.get). */
  readonly result = (msg: unknown): void => {
    const at = performance.now();
    if (!isRecord(msg)) return;
    const id = msg[ID];
    if (typeof id !== "string") return;
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    waiter?.onResult(msg, at);
  };

  /** For the function node behind the Catch node. */
  readonly caught = (msg: unknown): void => {
    const at = performance.now();
    if (!isRecord(msg)) return;
    const error = isRecord(msg["error"]) ? msg["error"] : {};
    const source = isRecord(error["source"]) ? text(error["source"]["type"], text(error["source"]["id"], "?")) : "?";
    const code = text(error["code"], "unexpected");
    const message = text(error["message"], "(no message)");
    const id = msg[ID];
    const waiter = typeof id === "string" ? this.waiting.get(id) : undefined;
    if (waiter === undefined) {
      this.strayErrors.push(`${source}: ${message}`);
      return;
    }
    this.waiting.delete(id as string);
    waiter.onCaught(code, message, source, at);
  };

  /** For the function node after the alarm's event output. */
  readonly alarm = (): void => {
    this.alarms += 1;
  };

  get inFlight(): number {
    return this.waiting.size;
  }

  /** Fails every message still awaited, so that no wait outlives a stopped line. */
  abandonAll(reason: string): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiters) waiter.abandon(reason);
  }

  /**
   * Sends `msg` into `node` and resolves with how it ended; rejects when it neither reached the
   * tap nor the Catch node within `timeoutMs`.
   */
  send<T>(node: RuntimeNode, msg: Record<string, unknown>, read: Reader<T>, timeoutMs: number, what: string): Promise<Outcome<T>> {
    const id = `line-${++this.next}`;
    return new Promise<Outcome<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new LineFailure(`${what} neither came out of the line nor failed within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const sentAt = performance.now();
      this.waiting.set(id, {
        onResult: (out, at) => {
          clearTimeout(timer);
          try {
            resolve({ kind: "result", sentAt, at, value: read(out) });
          } catch (error) {
            reject(error);
          }
        },
        onCaught: (code, message, source, at) => {
          clearTimeout(timer);
          resolve({ kind: "caught", sentAt, at, code, message, source });
        },
        abandon: (reason) => {
          clearTimeout(timer);
          reject(new LineFailure(`${what}: ${reason}`));
        },
      });
      try {
        node.receive({ ...msg, [ID]: id });
      } catch (error) {
        clearTimeout(timer);
        this.waiting.delete(id);
        reject(error);
      }
    });
  }
}

/** The error of a caught outcome as one line naming the file, the node and the reason. */
export function describeCaught(outcome: Extract<Outcome<unknown>, { kind: "caught" }>, file: string): string {
  return `${file}: ${outcome.source} failed (${outcome.code}): ${outcome.message}`;
}
