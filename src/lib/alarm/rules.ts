/**
 * The alarm conditions. Each rule looks at what the parts so far left in its memory (the run of
 * NG, the last M parts, the parts of the last T seconds) and says whether its condition holds
 * now, with an English reason an operator can read on the status line.
 */
import type { AlarmOptions, Verdict } from "./types";
import { EMPTY_COUNT_WINDOW, EMPTY_TIME_WINDOW, expireTime, pushCount, pushTime, type CountWindow, type TimeWindow } from "./window";

const MS_PER_SECOND = 1000;
const PERCENT = 100;
/** Rates are compared as ng * 100 >= R * n; floats such as R = 0.3 must not miss by one ulp. */
const RATE_EPSILON = 1e-9;
const PERCENT_DECIMALS = 1;

export interface RuleMemory {
  /** NG parts in a row up to the last part. */
  readonly run: number;
  readonly counts: CountWindow;
  readonly times: TimeWindow;
}

export const EMPTY_RULE_MEMORY: RuleMemory = { run: 0, counts: EMPTY_COUNT_WINDOW, times: EMPTY_TIME_WINDOW };

export interface Condition {
  holds: boolean;
  reason: string;
}

/** Whether a verdict counts as NG for the rules: UNCERTAIN only when the options say so. */
export function countsAsNg(verdict: Verdict, options: Pick<AlarmOptions, "uncertainAsNg">): boolean {
  return verdict === "NG" || (verdict === "UNCERTAIN" && options.uncertainAsNg);
}

/** Only the rule's own window is kept, so the other rules cost nothing. */
export function remember(options: AlarmOptions, memory: RuleMemory, time: number, isNg: boolean): RuleMemory {
  const run = isNg ? memory.run + 1 : 0;
  switch (options.rule) {
    case "rate-count":
      return { ...memory, run, counts: pushCount(memory.counts, isNg, options.rateWindow) };
    case "rate-time":
      return { ...memory, run, times: pushTime(memory.times, time, isNg, options.rateSeconds * MS_PER_SECOND) };
    default:
      return { ...memory, run };
  }
}

function formatPercent(value: number): string {
  return `${Number(value.toFixed(PERCENT_DECIMALS))}%`;
}

function rateHolds(ng: number, parts: number, percent: number): boolean {
  return ng * PERCENT + RATE_EPSILON >= percent * parts;
}

function rateText(ng: number, parts: number, percent: number): string {
  const rate = parts === 0 ? 0 : (ng * PERCENT) / parts;
  return `${formatPercent(rate)}, alarm at ${formatPercent(percent)}`;
}

/**
 * The rule's condition after the part with `verdict` (already remembered). The rate-count
 * window counts parts not seen yet as not NG, so the first NG after deploy is 1 of M, not 1 of 1.
 */
export function evaluate(options: AlarmOptions, memory: RuleMemory, verdict: Verdict, now: number): Condition {
  switch (options.rule) {
    case "ng": {
      const holds = countsAsNg(verdict, options);
      return { holds, reason: holds ? `${verdict} part` : `part is ${verdict}` };
    }
    case "consecutive": {
      const holds = memory.run >= options.consecutive;
      return { holds, reason: holds ? `${memory.run} consecutive NG` : `${memory.run} consecutive NG (alarm at ${options.consecutive})` };
    }
    case "rate-count": {
      const { ng } = memory.counts;
      const m = options.rateWindow;
      return {
        holds: rateHolds(ng, m, options.ratePercent),
        reason: `${ng} NG of the last ${m} parts (${rateText(ng, m, options.ratePercent)})`,
      };
    }
    case "rate-time": {
      const window = expireTime(memory.times, now, options.rateSeconds * MS_PER_SECOND);
      const parts = window.times.length;
      const enough = parts >= options.rateMinParts;
      const measured = `${window.ng} NG of ${parts} part${parts === 1 ? "" : "s"} in the last ${options.rateSeconds} s`;
      return {
        holds: enough && rateHolds(window.ng, parts, options.ratePercent),
        reason: enough ? `${measured} (${rateText(window.ng, parts, options.ratePercent)})` : `${measured} (fewer than ${options.rateMinParts} parts)`,
      };
    }
  }
}

/** What each rule watches, for help texts and logs: "3 consecutive NG", "10% NG of the last 100 parts". */
export function describeRule(options: AlarmOptions): string {
  switch (options.rule) {
    case "ng":
      return "every NG part";
    case "consecutive":
      return `${options.consecutive} consecutive NG`;
    case "rate-count":
      return `${formatPercent(options.ratePercent)} NG of the last ${options.rateWindow} parts`;
    case "rate-time":
      return `${formatPercent(options.ratePercent)} NG in the last ${options.rateSeconds} s (at least ${options.rateMinParts} parts)`;
  }
}
