/**
 * defect-alarm: turns verdicts into alarm events (output 1) and PLC writes (output 2) for
 * node-red-contrib-modbus Flex-Write or node-red-contrib-opcua. The rules and the handshake are
 * pure functions in src/lib; this file only keeps the state, the clock and the status.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import {
  acknowledge,
  alarmActive,
  createAlarmState,
  feed,
  parseAlarmOptions,
  readCommand,
  readInspection,
  recordError,
  reset,
  type AlarmEvent,
  type AlarmOptions,
  type AlarmState,
  type Step,
} from "../lib/alarm";
import { isControlAnswer, readRecipe } from "../lib/message";
import { MAX_RECIPE_CACHE, parseRecipeSettings } from "../lib/recipes";
import { parsePlcOptions, plcMessages, type HandshakeStep, type PlcOptions } from "../lib/plc";
import type { AlarmNodeDef } from "./alarm-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput, type SendFunction } from "./shared/input";
import { clockTime } from "./shared/clock";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-alarm";
/** Counts change with every part: the editor gets them at most this often, alarms at once. */
const STATUS_REFRESH_MS = 1000;

const STATES = {
  counting: { fill: "green", shape: "dot" },
  alarm: { fill: "red", shape: "dot" },
  acknowledged: { fill: "yellow", shape: "dot" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

interface Outcome {
  step: Step;
  handshake: HandshakeStep | undefined;
}

export = function register(RED: NodeAPI): void {
  function AlarmNode(this: Node, config: AlarmNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let state: AlarmState;
    let plc: PlcOptions;
    let base: AlarmOptions;
    /** Each recipe's own rules (msg.recipe), from the *Recipes* field over the node's. */
    let byRecipe: Map<string, AlarmOptions>;
    try {
      base = parseAlarmOptions({ ...config });
      byRecipe = parseRecipeSettings(config.recipes, "recipes", (settings) => parseAlarmOptions({ ...config, ...settings }));
      state = createAlarmState(base);
      plc = parsePlcOptions({ ...config });
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    /** The product of the parts counted in `state` (msg.recipe); the other products' streams wait in `others`. */
    let current: string | undefined;
    const others = new Map<string | undefined, AlarmState>();

    /**
     * Each product is its own stream (its counts, its consecutive NGs, its latched alarm) under its
     * own rules; the PLC handshake is one, as the station is. Streams of products not running
     * are kept, the oldest without an active alarm dropped beyond MAX_RECIPE_CACHE products.
     */
    function switchTo(recipe: string | undefined): void {
      if (recipe === current) return;
      others.set(current, state);
      state = others.get(recipe) ?? createAlarmState((recipe === undefined ? undefined : byRecipe.get(recipe)) ?? base);
      others.delete(recipe);
      current = recipe;
      acknowledged = undefined;
      lastNgAt = undefined;
      for (const [key, kept] of others) {
        if (others.size < MAX_RECIPE_CACHE) break;
        if (kept.active === null) others.delete(key);
      }
    }

    /** Reason of the alarm just acknowledged, shown until the next part. */
    let acknowledged: string | undefined;
    /** Clock time of the last NG part since deploy or reset, shown after the counts. */
    let lastNgAt: string | undefined;
    let countsShownAt = 0;
    let pendingCounts: NodeJS.Timeout | undefined;
    let deployWrite: NodeJS.Immediate | undefined;

    function countsText(): string {
      const { ok, ng, uncertain, errors: failed } = state.counts;
      let text = (current === undefined ? "" : `${current}: `) + RED._(`${TYPE}.status.counts`, { ok, ng });
      if (uncertain > 0) text += RED._(`${TYPE}.status.uncertain`, { count: uncertain });
      if (failed > 0) text += RED._(`${TYPE}.status.errors`, { count: failed });
      if (lastNgAt !== undefined) text += RED._(`${TYPE}.status.lastNg`, { time: lastNgAt });
      return text;
    }

    function showCounts(): void {
      const wait = countsShownAt + STATUS_REFRESH_MS - Date.now();
      if (status.current === "counting" && wait > 0) {
        pendingCounts ??= setTimeout(() => {
          pendingCounts = undefined;
          if (status.current === "counting") showState();
        }, wait);
        return;
      }
      countsShownAt = Date.now();
      status.setText("counting", countsText());
    }

    function showState(): void {
      const active = state.active;
      if (active !== null) {
        const key = active.latched ? "alarmLatched" : "alarm";
        status.setText("alarm", RED._(`${TYPE}.status.${key}`, { reason: active.reason }));
      } else if (acknowledged !== undefined) {
        status.setText("acknowledged", RED._(`${TYPE}.status.acknowledged`, { reason: acknowledged }));
      } else {
        showCounts();
      }
    }

    function handle(msg: NodeMessageInFlow, now: number): Outcome | undefined {
      const command = readCommand(msg["command"]);
      if (command === "ack") {
        const step = acknowledge(state, now);
        return { step, handshake: { kind: "ack", acknowledged: step.events.length > 0 } };
      }
      if (command === "trigger") return { step: { state, events: [] }, handshake: { kind: "trigger" } };
      if (command === "reset") {
        lastNgAt = undefined;
        return { step: reset(state, now), handshake: { kind: "reset" } };
      }
      if (msg["error"] !== undefined && msg["error"] !== null) {
        const next = recordError(state, now);
        return { step: { state: next, events: [] }, handshake: { kind: "error", sequence: next.results, alarm: alarmActive(next) } };
      }
      // Learning, calibration and command answers of the nodes before travel the same wire; they are no part.
      if (isControlAnswer(msg.payload)) return undefined;
      const part = readInspection(msg, now);
      const step = feed(state, part);
      if (part.verdict === "NG") lastNgAt = clockTime(new Date(now));
      return {
        step,
        handshake: {
          kind: "verdict",
          verdict: part.verdict,
          score: part.score,
          regionCount: part.regionCount ?? part.regions.length,
          sequence: step.state.results,
          resultId: part.resultId,
          alarm: alarmActive(step.state),
        },
      };
    }

    /** The first event goes out on the incoming message (image, regions, overlay travel on). */
    function eventMessages(msg: NodeMessageInFlow, events: readonly AlarmEvent[]): NodeMessage[] {
      return events.map((event, i) => {
        const out: NodeMessage = i === 0 ? msg : RED.util.cloneMessage(msg);
        out.payload = event;
        out.topic = "alarm";
        return out;
      });
    }

    /** Fresh messages: a PLC write carries nothing of the part but its values. */
    function writeMessages(step: HandshakeStep): NodeMessage[] {
      return plcMessages(step, plc).map((write) => ({ ...write }));
    }

    function sendOutcome(msg: NodeMessageInFlow, outcome: Outcome, send: SendFunction): void {
      const events = eventMessages(msg, outcome.step.events);
      const writes = outcome.handshake === undefined ? [] : writeMessages(outcome.handshake);
      if (events.length > 0 || writes.length > 0) send([events.length > 0 ? events : null, writes.length > 0 ? writes : null]);
    }

    handleInput(node, errors, async (msg, send) => {
      // A message naming no product belongs to the one named last.
      switchTo(readRecipe(msg) ?? current);
      const outcome = handle(msg, Date.now());
      if (outcome === undefined) return;
      const previous = state;
      state = outcome.step.state;
      // "acknowledged" stays on the status until the next result or a reset.
      if (outcome.step.events.some((e) => e.event === "acknowledged")) acknowledged = previous.active?.reason;
      else if (state.results !== previous.results || outcome.handshake?.kind === "reset") acknowledged = undefined;
      sendOutcome(msg, outcome, send);
      showState();
    });

    showState();
    // After the current tick, so the wires of a flow being deployed are connected.
    deployWrite = setImmediate(() => {
      deployWrite = undefined;
      const writes = writeMessages({ kind: "deploy" });
      if (writes.length > 0) node.send([null, writes]);
    });

    node.on("close", (removed: boolean, done: () => void) => {
      if (deployWrite !== undefined) clearImmediate(deployWrite);
      if (pendingCounts !== undefined) clearTimeout(pendingCounts);
      deployWrite = undefined;
      pendingCounts = undefined;
      if (removed) status.clear();
      done();
    });
  }

  RED.nodes.registerType(TYPE, AlarmNode);
};
