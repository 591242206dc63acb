/**
 * The alarm state machine: parts in, alarm events out, with the time of each call passed in as
 * milliseconds so that no timer lives here and tests need no fake clock. Every function returns
 * a new state and leaves the one it was given untouched.
 *
 * An alarm is raised when the rule's condition holds at a part, no alarm is active and the
 * cooldown since the last alarm event has passed; rule "ng" raises one for every NG part unless
 * a latched alarm waits for acknowledgement. Conditions are evaluated only when a part arrives.
 * A non-latched alarm is "cleared" at the first part at which its condition no longer holds (rule
 * "ng": the next part that is not NG; "consecutive": the first part that is not NG; the rate
 * rules: the first part after which the rate is below R %, or "rate-time" has fewer than its
 * minimum parts). A latched alarm is never cleared by the parts: only an acknowledgement ends it,
 * and if the condition still holds at the next part, that part raises a new alarm.
 */
import { DefectError } from "../errors";
import { evidenceOf } from "./evidence";
import { countsAsNg, EMPTY_RULE_MEMORY, evaluate, remember, type RuleMemory } from "./rules";
import type { AlarmEvent, AlarmEventKind, AlarmOptions, Evidence, Inspection } from "./types";

export interface PartCounts {
  readonly ok: number;
  readonly ng: number;
  readonly uncertain: number;
  /** Inspection errors reported with recordError. */
  readonly errors: number;
}

export interface ActiveAlarm {
  readonly reason: string;
  readonly evidence: Evidence;
  /** Waits for acknowledgement (latch on); a non-latched alarm clears with its condition. */
  readonly latched: boolean;
  /** ms of the part that raised it. */
  readonly raisedAt: number;
}

export interface AlarmState {
  readonly options: AlarmOptions;
  /** Since deploy or the last reset. */
  readonly counts: PartCounts;
  /** Results (verdicts and errors) since deploy, never reset: the PLC's sequence number. */
  readonly results: number;
  /** Alarm events since deploy, never reset, so event numbers stay unique. */
  readonly sequence: number;
  readonly memory: RuleMemory;
  readonly active: ActiveAlarm | null;
  /** ms of the last "alarm" event, for the cooldown; undefined before the first. */
  readonly lastAlarmAt: number | undefined;
  /** ms of the latest call; later calls with earlier times are taken as happening now. */
  readonly lastTime: number | undefined;
}

export interface Step {
  state: AlarmState;
  events: AlarmEvent[];
}

const NO_COUNTS: PartCounts = { ok: 0, ng: 0, uncertain: 0, errors: 0 };

export function createAlarmState(options: AlarmOptions): AlarmState {
  return {
    options,
    counts: NO_COUNTS,
    results: 0,
    sequence: 0,
    memory: EMPTY_RULE_MEMORY,
    active: null,
    lastAlarmAt: undefined,
    lastTime: undefined,
  };
}

/** Clocks can be set back (NTP, daylight saving mistakes); windows must never see time run backwards. */
function monotonic(state: AlarmState, time: number): number {
  if (!Number.isFinite(time)) {
    throw new DefectError("invalidOption", `The alarm time must be a finite number of milliseconds, got ${time}`, {
      option: "time",
      value: String(time),
      expected: "a finite number of milliseconds",
    });
  }
  return state.lastTime === undefined ? time : Math.max(time, state.lastTime);
}

function event(state: AlarmState, kind: AlarmEventKind, reason: string, evidence: Evidence, time: number): AlarmEvent {
  return {
    event: kind,
    rule: state.options.rule,
    severity: state.options.severity,
    reason,
    evidence,
    sequence: state.sequence + 1,
    time: new Date(time).toISOString(),
  };
}

function countVerdict(counts: PartCounts, part: Inspection): PartCounts {
  switch (part.verdict) {
    case "OK":
      return { ...counts, ok: counts.ok + 1 };
    case "NG":
      return { ...counts, ng: counts.ng + 1 };
    case "UNCERTAIN":
      return { ...counts, uncertain: counts.uncertain + 1 };
  }
}

function cooldownPassed(state: AlarmState, time: number): boolean {
  return state.lastAlarmAt === undefined || time - state.lastAlarmAt >= state.options.cooldownMs;
}

/** Feeds one inspected part: at most one event comes out (an alarm or a clearing). */
export function feed(state: AlarmState, part: Inspection): Step {
  const time = monotonic(state, part.time);
  const { options } = state;
  const memory = remember(options, state.memory, time, countsAsNg(part.verdict, options));
  const condition = evaluate(options, memory, part.verdict, time);
  const next: AlarmState = { ...state, memory, counts: countVerdict(state.counts, part), results: state.results + 1, lastTime: time };

  if (condition.holds) {
    // Rule "ng" raises again for each NG part while nothing waits for acknowledgement.
    const free = options.rule === "ng" ? state.active === null || !state.active.latched : state.active === null;
    if (!free || !cooldownPassed(state, time)) return { state: next, events: [] };
    const evidence = evidenceOf(part);
    const raised = event(next, "alarm", condition.reason, evidence, time);
    const active: ActiveAlarm = { reason: condition.reason, evidence, latched: options.latch, raisedAt: time };
    return { state: { ...next, active, lastAlarmAt: time, sequence: raised.sequence }, events: [raised] };
  }
  if (state.active !== null && !state.active.latched) {
    const cleared = event(next, "cleared", condition.reason, evidenceOf(part), time);
    return { state: { ...next, active: null, sequence: cleared.sequence }, events: [cleared] };
  }
  return { state: next, events: [] };
}

/** Ends a latched alarm; without one nothing changes (a non-latched alarm clears by itself). */
export function acknowledge(state: AlarmState, time: number): Step {
  const now = monotonic(state, time);
  const active = state.active;
  if (active === null || !active.latched) return { state: { ...state, lastTime: now }, events: [] };
  const acknowledged = event(state, "acknowledged", active.reason, active.evidence, now);
  return { state: { ...state, active: null, lastTime: now, sequence: acknowledged.sequence }, events: [acknowledged] };
}

/**
 * Forgets the counts, windows, cooldown and any active alarm (announced as "cleared" with reason
 * "reset"); the event and result sequences go on, so numbers already seen are never reused.
 */
export function reset(state: AlarmState, time: number): Step {
  const now = monotonic(state, time);
  const fresh: AlarmState = { ...createAlarmState(state.options), results: state.results, sequence: state.sequence, lastTime: now };
  if (state.active === null) return { state: fresh, events: [] };
  const cleared = event(state, "cleared", "reset", state.active.evidence, now);
  return { state: { ...fresh, sequence: cleared.sequence }, events: [cleared] };
}

/** An inspection that failed: counted, and a result for the PLC, but no part for the rules. */
export function recordError(state: AlarmState, time: number): AlarmState {
  const now = monotonic(state, time);
  return { ...state, counts: { ...state.counts, errors: state.counts.errors + 1 }, results: state.results + 1, lastTime: now };
}

/** Whether the PLC's alarm signal should be on. */
export function alarmActive(state: AlarmState): boolean {
  return state.active !== null;
}
