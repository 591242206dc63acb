/** The alarm's vocabulary: what it is fed, what it decides and what it announces. */
import type { RegionBox } from "../message";

export const VERDICTS = ["OK", "NG", "UNCERTAIN"] as const;
export type Verdict = (typeof VERDICTS)[number];

export const ALARM_RULES = ["ng", "consecutive", "rate-count", "rate-time"] as const;
export type AlarmRule = (typeof ALARM_RULES)[number];

export const SEVERITIES = ["warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlarmOptions {
  rule: AlarmRule;
  /** N of "consecutive": NG parts in a row that raise the alarm. */
  consecutive: number;
  /** R of the rate rules, in percent of the parts in the window, (0, 100]. */
  ratePercent: number;
  /** M of "rate-count": the window is the last M parts. */
  rateWindow: number;
  /** T of "rate-time", in seconds: the window is the parts of the last T seconds. */
  rateSeconds: number;
  /** "rate-time" holds only with at least this many parts in its window. */
  rateMinParts: number;
  /** A raised alarm stays until acknowledged, even when its condition stops holding. */
  latch: boolean;
  /** Least time between two "alarm" events; 0 = none. */
  cooldownMs: number;
  severity: Severity;
  /** UNCERTAIN verdicts count as NG (by default they count as not NG). */
  uncertainAsNg: boolean;
}

/** A region as mask-to-region writes it; only the box, area and maxScore are used. */
export type RegionLike = RegionBox;

/** One inspected part, as the state machine is fed it. */
export interface Inspection {
  /** Milliseconds (Date.now() in the node); earlier than the previous part counts as the same time. */
  time: number;
  verdict: Verdict;
  partId: string;
  /** msg.result.id, the result's number at its station; null for a verdict without a record. */
  resultId: number | null;
  /** null when the verdict came without a score. */
  score: number | null;
  regions: readonly RegionLike[];
  /** Regions found, when more were found than `regions` lists; defaults to regions.length. */
  regionCount?: number;
}

export interface EvidenceRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  area: number;
  maxScore: number | null;
}

/** What an operator needs to see why the alarm went off: the part that tipped it. */
export interface Evidence {
  partId: string;
  /** The result's msg.result.id, to find its record (archive, dashboard, PLC); null when it had none. */
  resultId: number | null;
  score: number | null;
  verdict: Verdict;
  regions: { count: number; totalArea: number; top: EvidenceRegion[] };
}

export const ALARM_EVENT_KINDS = ["alarm", "cleared", "acknowledged"] as const;
export type AlarmEventKind = (typeof ALARM_EVENT_KINDS)[number];

/** msg.payload of the alarm node's first output. */
export interface AlarmEvent {
  event: AlarmEventKind;
  rule: AlarmRule;
  severity: Severity;
  /** English text, e.g. "3 consecutive NG". */
  reason: string;
  evidence: Evidence;
  /** Number of this event since deploy, 1, 2, 3...: a gap means a lost event. */
  sequence: number;
  /** ISO 8601. */
  time: string;
}
