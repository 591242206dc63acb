/**
 * Alarm options parsed once from editor values with every default in one place. Every field is
 * checked whatever the rule, so a value hidden in the editor cannot hold a surprise for the day
 * the rule is switched.
 */
import { booleanOption, integerOption, numberOption, oneOf } from "../config/option-values";
import { ALARM_RULES, SEVERITIES, type AlarmOptions } from "./types";

/** Bounds the windows: each part in a window is kept (and copied) until it leaves it. */
export const MAX_WINDOW_PARTS = 100_000;
const SECONDS_PER_DAY = 86_400;
const MS_PER_SECOND = 1000;
const MAX_PERCENT = 100;

export const DEFAULT_ALARM_OPTIONS: AlarmOptions = {
  rule: "ng",
  consecutive: 3,
  ratePercent: 10,
  rateWindow: 100,
  rateSeconds: 60,
  rateMinParts: 10,
  latch: true,
  cooldownMs: 0,
  severity: "critical",
  uncertainAsNg: false,
};

export function parseAlarmOptions(input: Record<string, unknown>): AlarmOptions {
  const d = DEFAULT_ALARM_OPTIONS;
  return {
    rule: oneOf("rule", input["rule"], ALARM_RULES, d.rule),
    consecutive: integerOption("consecutive", input["consecutive"], 1, MAX_WINDOW_PARTS, d.consecutive),
    ratePercent: numberOption("ratePercent", input["ratePercent"], { min: 0, max: MAX_PERCENT, minIncluded: false }, d.ratePercent),
    rateWindow: integerOption("rateWindow", input["rateWindow"], 1, MAX_WINDOW_PARTS, d.rateWindow),
    rateSeconds: numberOption("rateSeconds", input["rateSeconds"], { min: 0, max: SECONDS_PER_DAY, minIncluded: false }, d.rateSeconds),
    rateMinParts: integerOption("rateMinParts", input["rateMinParts"], 1, MAX_WINDOW_PARTS, d.rateMinParts),
    latch: booleanOption("latch", input["latch"], d.latch),
    cooldownMs: numberOption("cooldown", input["cooldown"], { min: 0, max: SECONDS_PER_DAY * MS_PER_SECOND, minIncluded: true }, d.cooldownMs),
    severity: oneOf("severity", input["severity"], SEVERITIES, d.severity),
    uncertainAsNg: booleanOption("uncertainAsNg", input["uncertainAsNg"], d.uncertainAsNg),
  };
}
