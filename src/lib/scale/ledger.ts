/**
 * The line's accounting of parts sent to inspection workers and results come back: every part
 * ends exactly once, with its first result or, after its last publication timed out, as lost.
 * MQTT QoS 1 delivers at least once, and a part published again after a worker died may be
 * inspected twice; later copies of a result are counted and dropped here, never passed on.
 * Pure bookkeeping: the node owns the clock and the timer.
 */
import type { WirePart, WireResult } from "./wire";

export interface LedgerOptions {
  /** Milliseconds a publication of a part waits for its result. */
  timeoutMs: number;
  /** Publications after the first before a part counts as lost (0: none). */
  retries: number;
  /** Parts waiting for a result at most; one more is refused. */
  maxPending: number;
  /** Ids of ended parts remembered, so a late copy of their result is recognised. */
  remember: number;
}

export interface LedgerCounts {
  sent: number;
  results: number;
  duplicates: number;
  late: number;
  unknown: number;
  republished: number;
  lost: number;
  pending: number;
}

/** What a result is to the line. */
export type ResultFate = "first" | "duplicate" | "late" | "unknown";

interface Pending {
  part: WirePart;
  /** When the current publication times out. */
  deadline: number;
  sentAt: number;
}

export interface Due {
  /** Parts to publish again (their attempt already counted up). */
  republish: WirePart[];
  /** Parts whose last publication timed out: they end here, without a result. */
  lost: WirePart[];
}

export class PartLedger {
  private readonly pending = new Map<string, Pending>();
  /** Ended part ids and how they ended, oldest first (a Map keeps insertion order). */
  private readonly ended = new Map<string, "result" | "lost">();
  private readonly tally = { sent: 0, results: 0, duplicates: 0, late: 0, unknown: 0, republished: 0, lost: 0 };
  /** Results per worker name, for the line's view of who took a share. */
  readonly byWorker = new Map<string, number>();

  constructor(readonly options: LedgerOptions) {}

  get counts(): LedgerCounts {
    return { ...this.tally, pending: this.pending.size };
  }

  /** Whether a part of this id waits for its result. */
  has(partId: string): boolean {
    return this.pending.has(partId);
  }

  /** The part of a pending id (for the time it took). */
  sentAt(partId: string): number | undefined {
    return this.pending.get(partId)?.sentAt;
  }

  /**
   * Registers a part before its first publication: "full" when maxPending parts wait already,
   * "reused" when its id is pending or ended not long ago (results could not be told apart).
   */
  send(part: WirePart, now: number): "ok" | "full" | "reused" {
    if (this.pending.has(part.partId) || this.ended.has(part.partId)) return "reused";
    if (this.pending.size >= this.options.maxPending) return "full";
    this.pending.set(part.partId, { part, deadline: now + this.options.timeoutMs, sentAt: now });
    this.tally.sent += 1;
    return "ok";
  }

  /** Files a result: the first for a pending part ends it; any other is counted and dropped. */
  receive(result: WireResult): ResultFate {
    if (this.pending.delete(result.partId)) {
      this.end(result.partId, "result");
      this.tally.results += 1;
      this.byWorker.set(result.worker, (this.byWorker.get(result.worker) ?? 0) + 1);
      return "first";
    }
    const ended = this.ended.get(result.partId);
    if (ended === "result") {
      this.tally.duplicates += 1;
      return "duplicate";
    }
    if (ended === "lost") {
      this.tally.late += 1;
      return "late";
    }
    this.tally.unknown += 1;
    return "unknown";
  }

  /** Parts whose publication has timed out by `now`: published again while retries are left, else lost. */
  due(now: number): Due {
    const republish: WirePart[] = [];
    const lost: WirePart[] = [];
    for (const [partId, entry] of this.pending) {
      if (entry.deadline > now) continue;
      if (entry.part.attempt <= this.options.retries) {
        entry.part = { ...entry.part, attempt: entry.part.attempt + 1 };
        entry.deadline = now + this.options.timeoutMs;
        this.tally.republished += 1;
        republish.push(entry.part);
      } else {
        this.pending.delete(partId);
        this.end(partId, "lost");
        this.tally.lost += 1;
        lost.push(entry.part);
      }
    }
    return { republish, lost };
  }

  /** Forgets every pending part (a redeploy): they are neither results nor lost to this ledger. */
  clear(): WirePart[] {
    const parts = [...this.pending.values()].map((entry) => entry.part);
    this.pending.clear();
    return parts;
  }

  private end(partId: string, how: "result" | "lost"): void {
    this.ended.set(partId, how);
    while (this.ended.size > this.options.remember) {
      const oldest = this.ended.keys().next().value;
      if (oldest === undefined) break;
      this.ended.delete(oldest);
    }
  }
}
