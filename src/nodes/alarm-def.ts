/**
 * Node definition of defect-alarm as the editor saves it, key for key the `defaults` of
 * alarm.html. Numbers arrive as strings. For PLC addresses and NodeIds an empty string means
 * "do not write this signal"; a key missing altogether (hand-written flows) takes the default.
 */
import type { NodeDef } from "node-red";

export interface AlarmNodeDef extends NodeDef {
  /** "ng" | "consecutive" | "rate-count" | "rate-time". */
  rule: string;
  /** N: NG parts in a row (consecutive). */
  consecutive: string | number;
  /** R: percent NG that raises the alarm (rate rules), above 0 and at most 100. */
  ratePercent: string | number;
  /** M: parts in the window (rate-count). */
  rateWindow: string | number;
  /** T: seconds in the window (rate-time). */
  rateSeconds: string | number;
  /** Fewest parts in the T window before rate-time can hold. */
  rateMinParts: string | number;
  latch: boolean;
  /** Milliseconds between two alarm events. */
  cooldown: string | number;
  /** "warning" | "critical". */
  severity: string;
  uncertainAsNg: boolean;
  /** JSON: recipe name -> that recipe's rule options (the keys above); "" for none. */
  recipes: string;
  /** "modbus" | "opcua". */
  protocol: string;
  unitId: string | number;
  coilReady: string | number;
  coilResultReady: string | number;
  coilOk: string | number;
  coilNg: string | number;
  coilError: string | number;
  coilAlarm: string | number;
  /** First of the 6 holding registers [statusWord, score, regionCount, sequence, resultId high, resultId low]. */
  registerAddress: string | number;
  /** The score register holds round(score * scoreScale). */
  scoreScale: string | number;
  nodeReady: string;
  nodeResultReady: string;
  nodeOk: string;
  nodeNg: string;
  nodeError: string;
  nodeAlarm: string;
  nodeScore: string;
  nodeRegionCount: string;
  nodeSequence: string;
  /** msg.result.id as UInt32. */
  nodeResultId: string;
  nodeStatusWord: string;
}
