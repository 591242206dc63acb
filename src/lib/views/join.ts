/**
 * Joining the views of one part: each part waits, from its first view, until all expected views
 * have arrived, or until its time runs out, and is then judged once. Time is passed in (`now`),
 * so the node owns the clock and timers and tests need none.
 *
 * A part whose views did not all arrive is never OK: it is NG when a view that arrived is NG,
 * else UNCERTAIN, and names the missing views. Memory is bounded: at most *Max open parts* wait
 * (one more judges the oldest early), and the parts joined in the last *Timeout* are remembered
 * by id and views only, so a view sent twice or after its part was judged is refused instead of
 * starting a new part that could only time out.
 */
import { DefectError } from "../errors";
import type { Verdict } from "../threshold/types";
import type { JoinedPart, JoinReason, JoinViewsOptions, ViewArrival } from "./types";

interface OpenPart<M> {
  views: Map<string, ViewArrival>;
  deadline: number;
  message: M;
}

/** A part already judged: which views it was judged with, until its memory runs out. */
interface ClosedPart {
  until: number;
  joined: Set<string>;
  reason: JoinReason;
}

/** NG if any view is NG; else UNCERTAIN if any is UNCERTAIN or any view is missing; else OK. */
export function joinVerdict(verdicts: readonly Verdict[], missing: number): Verdict {
  if (verdicts.includes("NG")) return "NG";
  if (missing > 0 || verdicts.includes("UNCERTAIN")) return "UNCERTAIN";
  return "OK";
}

export class ViewJoin<M> {
  /** In the order the parts opened: the first is the oldest. */
  private readonly open = new Map<string, OpenPart<M>>();
  /** In the order the parts were judged. */
  private readonly closed = new Map<string, ClosedPart>();

  constructor(readonly options: JoinViewsOptions) {}

  /** Parts waiting for views. */
  get openParts(): number {
    return this.open.size;
  }

  /**
   * Takes one view. Returns the parts judged by it: the part itself when this was its last view,
   * and the oldest open part when this view opened one too many. A view not expected, one its part
   * already has, or one whose part was judged in the last *Timeout* is refused (nothing changes).
   */
  add(arrival: ViewArrival, message: M, now: number): Array<JoinedPart<M>> {
    this.forget(now);
    const { partId, view } = arrival;
    if (!this.options.views.includes(view)) {
      throw new DefectError("unknownView", `view "${view}" is not one of the expected views ${this.options.views.join(", ")}`, {
        view,
        views: this.options.views.join(", "),
      });
    }
    const closed = this.closed.get(partId);
    if (closed !== undefined && !this.open.has(partId)) throw this.refuseClosed(partId, view, closed);
    const part = this.open.get(partId);
    if (part?.views.has(view) === true) {
      throw new DefectError("duplicateView", `view "${view}" of part "${partId}" arrived twice; the first one is kept`, { partId, view });
    }
    const judged: Array<JoinedPart<M>> = [];
    if (part === undefined) {
      if (this.open.size >= this.options.maxParts) {
        const oldest = this.open.keys().next().value as string;
        judged.push(this.judge(oldest, "evicted", now));
      }
      this.open.set(partId, { views: new Map([[view, arrival]]), deadline: now + this.options.timeoutMs, message });
    } else {
      part.views.set(view, arrival);
      part.message = message;
    }
    if (this.open.get(partId)?.views.size === this.options.views.length) judged.push(this.judge(partId, "complete", now));
    return judged;
  }

  /** Judges every part whose time has run out by `now`, oldest first. */
  expire(now: number): Array<JoinedPart<M>> {
    this.forget(now);
    const due = [...this.open].filter(([, part]) => part.deadline <= now).map(([partId]) => partId);
    return due.map((partId) => this.judge(partId, "timeout", now));
  }

  /** When the next open part runs out of time; undefined when none waits. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const part of this.open.values()) if (next === undefined || part.deadline < next) next = part.deadline;
    return next;
  }

  /** Forgets everything (the node closes); returns the ids of the parts that were still waiting. */
  clear(): string[] {
    const waiting = [...this.open.keys()];
    this.open.clear();
    this.closed.clear();
    return waiting;
  }

  private refuseClosed(partId: string, view: string, closed: ClosedPart): DefectError {
    if (closed.joined.has(view)) {
      return new DefectError("duplicateView", `view "${view}" of part "${partId}" arrived again after the part was judged; it is not judged twice`, {
        partId,
        view,
      });
    }
    return new DefectError(
      "lateView",
      `view "${view}" of part "${partId}" arrived after the part was judged without it (${closed.reason === "evicted" ? "too many open parts" : "timeout"})`,
      { partId, view },
    );
  }

  private judge(partId: string, reason: JoinReason, now: number): JoinedPart<M> {
    const part = this.open.get(partId);
    if (part === undefined) throw new Error(`no open part ${partId}`);
    this.open.delete(partId);
    const views = this.options.views.flatMap((name) => {
      const arrival = part.views.get(name);
      return arrival === undefined ? [] : [arrival];
    });
    const missing = this.options.views.filter((name) => !part.views.has(name));
    const scores = views.map((v) => v.score).filter((s): s is number => s !== null);
    this.remember(partId, { until: now + this.options.timeoutMs, joined: new Set(part.views.keys()), reason });
    return {
      partId,
      reason,
      verdict: joinVerdict(
        views.map((v) => v.verdict),
        missing.length,
      ),
      score: scores.length > 0 ? Math.max(...scores) : null,
      views,
      missing,
      ngViews: views.filter((v) => v.verdict === "NG").map((v) => v.view),
      message: part.message,
    };
  }

  private remember(partId: string, closed: ClosedPart): void {
    this.closed.delete(partId);
    this.closed.set(partId, closed);
    if (this.closed.size > this.options.maxParts) this.closed.delete(this.closed.keys().next().value as string);
  }

  /** Drops judged parts older than *Timeout*: they are in judging order, so the expired ones come first. */
  private forget(now: number): void {
    for (const [partId, closed] of this.closed) {
      if (closed.until > now) break;
      this.closed.delete(partId);
    }
  }
}
