/** The join views node's vocabulary: its options, one view's verdict as it arrives, and a joined part. */
import type { ResultTimes, ResultView } from "../message";
import type { Verdict } from "../threshold/types";

export interface JoinViewsOptions {
  /** The views every part is expected in, e.g. ["top", "side"]: at least two, each named once. */
  views: string[];
  /** The msg property naming a message's view ("view"); msg.topic when that property is absent. */
  viewProperty: string;
  /** Milliseconds from a part's first view until it is judged without the views still missing. */
  timeoutMs: number;
  /** Parts waiting for views at most; one more judges the oldest without its missing views. */
  maxParts: number;
}

/** One view's verdict as read from its message. */
export interface ViewArrival extends ResultView {
  partId: string;
  jobId: string | null;
  recipe: string | null;
  /** The stage times of the view's result record; null without a record. */
  times: ResultTimes | null;
}

/**
 * Why a part was joined: every view arrived; its time ran out; or more than *Max open parts*
 * waited and it was the oldest.
 */
export type JoinReason = "complete" | "timeout" | "evicted";

/** A part whose views were joined, with the message its joined verdict goes out on. */
export interface JoinedPart<M> {
  partId: string;
  reason: JoinReason;
  verdict: Verdict;
  /** The highest score of the views that arrived; null when none had a score. */
  score: number | null;
  /** The views that arrived, in the order of the options' views. */
  views: ViewArrival[];
  /** Views of the options that did not arrive, in their order. */
  missing: string[];
  /** Views whose verdict is NG, in the options' order. */
  ngViews: string[];
  /** The message of the view that arrived last. */
  message: M;
}
