/**
 * defect-join-views: one verdict per part from the verdicts of its views (two cameras, several
 * lights), placed after the threshold (or mask to region) node of each view's branch. The joining
 * rules are in src/lib/views; this file keeps the clock, the timer, the numbering and the status.
 * The node is a station: it numbers the joined results as a threshold node numbers its own.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { DefectError } from "../lib/errors";
import { isControlAnswer, writeJoinedResult, writeViewRegions } from "../lib/message";
import type { Verdict } from "../lib/threshold/types";
import { parseJoinViewsOptions, readViewArrival, readViewName, ViewJoin, type JoinedPart, type JoinViewsOptions } from "../lib/views";
import type { JoinViewsNodeDef } from "./join-views-def";
import { clockTime } from "./shared/clock";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput, type SendFunction } from "./shared/input";
import { messageProperty } from "./shared/message";
import { createStatus, type StatusLook } from "./shared/status";
import { startResultNumbering } from "./shared/result-numbering";

const TYPE = "defect-join-views";
/** The open-part count changes with every view: the editor gets it at most this often, a new verdict colour at once. */
const STATUS_REFRESH_MS = 1000;

const STATES = {
  ready: { fill: "grey", shape: "dot" },
  OK: { fill: "green", shape: "dot" },
  NG: { fill: "red", shape: "dot" },
  UNCERTAIN: { fill: "yellow", shape: "dot" },
  missing: { fill: "red", shape: "ring" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

type State = keyof typeof STATES;

/** The error Catch gets for a part judged without some of its views. */
function missingViewError(part: JoinedPart<unknown>, options: JoinViewsOptions): DefectError {
  const missing = part.missing.join(", ");
  const arrived = part.views.map((v) => v.view).join(", ");
  const why =
    part.reason === "evicted"
      ? `more than ${options.maxParts} parts were waiting and it was the oldest`
      : `they did not arrive within ${options.timeoutMs} ms of its first view`;
  const message = `part "${part.partId}" judged ${part.verdict} without view(s) ${missing}: ${why}; views that arrived: ${arrived}`;
  return new DefectError("missingView", message, { partId: part.partId, missing, arrived, verdict: part.verdict, why });
}

export = function register(RED: NodeAPI): void {
  function JoinViewsNode(this: Node, config: JoinViewsNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: JoinViewsOptions;
    try {
      options = parseJoinViewsOptions({ ...config });
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    const join = new ViewJoin<NodeMessageInFlow>(options);
    const results = startResultNumbering(RED, node, TYPE);
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    /** What the status shows after the open-part count: the last joined part. */
    let last: { state: State; text: string } | undefined;
    let shownAt = 0;
    let pendingStatus: NodeJS.Timeout | undefined;

    function showState(): void {
      if (closed) return;
      const open = join.openParts;
      const shown = last ?? { state: "ready", text: RED._(`${TYPE}.status.ready`, { views: options.views.join(", ") }) };
      const wait = shownAt + STATUS_REFRESH_MS - Date.now();
      if (status.current === shown.state && wait > 0) {
        pendingStatus ??= setTimeout(() => {
          pendingStatus = undefined;
          showState();
        }, wait);
        return;
      }
      shownAt = Date.now();
      status.setText(shown.state, `${shown.text}${RED._(`${TYPE}.status.open`, { open })}`);
    }

    function remember(part: JoinedPart<NodeMessageInFlow>): void {
      const time = clockTime(new Date());
      if (part.missing.length > 0) {
        last = { state: "missing", text: RED._(`${TYPE}.status.missing`, { verdict: part.verdict, views: part.missing.join(", "), time }) };
      } else {
        const key = part.verdict === "NG" ? "ng" : "verdict";
        last = { state: part.verdict, text: RED._(`${TYPE}.status.${key}`, { verdict: part.verdict, views: part.ngViews.join(", "), time }) };
      }
    }

    /** Numbers the part, writes its verdict and record onto the last view's message, and sends it. */
    async function emit(part: JoinedPart<NodeMessageInFlow>, send: SendFunction): Promise<void> {
      const msg = part.message;
      const { id, unsaved } = await results.next();
      if (closed) return;
      const verdict: Verdict = part.verdict;
      msg.payload = {
        verdict,
        score: part.score,
        partId: part.partId,
        views: part.views.map((v) => ({ view: v.view, verdict: v.verdict, score: v.score, regionCount: v.regions?.length ?? null })),
        ngViews: part.ngViews,
        missing: part.missing,
      };
      const first = part.views[0];
      const record = writeJoinedResult(msg, {
        id,
        station: node.id,
        created: new Date(),
        verdict,
        score: part.score,
        labels: { partId: part.partId, jobId: first?.jobId ?? null, recipe: first?.recipe ?? null },
        views: part.views,
        missing: part.missing,
        times: part.views.map((v) => v.times),
      });
      if (record.regions !== null) writeViewRegions(msg, record.regions);
      // Numbered anyway: the verdict matters more than the counter; Catch learns it is not saved.
      if (unsaved !== undefined) errors.report(unsaved, msg);
      // Never a silent verdict without a view: Catch gets the part, its verdict and what is missing.
      if (part.missing.length > 0) errors.report(missingViewError(part, options), msg);
      remember(part);
      send(msg);
    }

    /** Emits parts judged outside an input (timeouts): an error reaches Catch with the part's message. */
    function emitLater(parts: ReadonlyArray<JoinedPart<NodeMessageInFlow>>): void {
      for (const part of parts) {
        emit(part, (out) => node.send(out)).then(showState, (error: unknown) => {
          errors.report(error, part.message);
        });
      }
    }

    function schedule(): void {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const next = join.nextDeadline();
      if (next === undefined || closed) return;
      timer = setTimeout(
        () => {
          timer = undefined;
          emitLater(join.expire(Date.now()));
          schedule();
          showState();
        },
        Math.max(0, next - Date.now()),
      );
    }

    handleInput(node, errors, async (msg, send) => {
      // Learning, calibration and command answers of the branches are no views of a part: passed on.
      if (isControlAnswer(msg.payload)) {
        send(msg);
        return;
      }
      const view = readViewName(messageProperty(RED, msg, options.viewProperty), msg.topic, options.viewProperty, options.views);
      const arrival = readViewArrival(msg, view);
      const judged = join.add(arrival, msg, Date.now());
      schedule();
      // An evicted part goes out with its own message; the part this view completed with this one.
      const own = judged.filter((part) => part.message === msg);
      emitLater(judged.filter((part) => part.message !== msg));
      for (const part of own) await emit(part, send);
      showState();
    });

    showState();

    node.on("close", (removed: boolean, done: () => void) => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (pendingStatus !== undefined) clearTimeout(pendingStatus);
      timer = undefined;
      pendingStatus = undefined;
      const waiting = join.clear();
      if (waiting.length > 0) node.warn(RED._(`${TYPE}.warn.dropped`, { count: waiting.length, parts: waiting.slice(0, 10).join(", ") }));
      void results.close().finally(() => {
        if (removed) status.clear();
        done();
      });
    });
  }

  RED.nodes.registerType(TYPE, JoinViewsNode);
};
