/**
 * The handshake as a pure function from what just happened to the writes that tell the PLC.
 * Order matters: result values and OK/NG are written before Result ready rises, so a PLC that
 * reads on the rising edge of Result ready never sees half a result.
 */
import type { Verdict } from "../alarm/types";
import { STATUS_BITS, type PlcWrite, type ResultValues } from "./signals";

export const HANDSHAKE_STEPS = ["deploy", "trigger", "verdict", "error", "ack", "reset"] as const;

export type HandshakeStep =
  /** The node is deployed and can inspect. */
  | { kind: "deploy" }
  /** The PLC asked for an inspection: not ready until the result is out. */
  | { kind: "trigger" }
  | { kind: "verdict"; verdict: Verdict; score: number | null; regionCount: number; sequence: number; resultId: number | null; alarm: boolean }
  /** The inspection failed (a message from a Catch node). */
  | { kind: "error"; sequence: number; alarm: boolean }
  /** The PLC took the result; `acknowledged` tells whether a latched alarm was ended by it. */
  | { kind: "ack"; acknowledged: boolean }
  /** Counters and alarm state were cleared. */
  | { kind: "reset" };

export function statusWord(verdict: Verdict | "error", alarm: boolean): number {
  const bit = verdict === "OK" ? STATUS_BITS.ok : verdict === "NG" ? STATUS_BITS.ng : verdict === "UNCERTAIN" ? STATUS_BITS.uncertain : STATUS_BITS.error;
  return bit | (alarm ? STATUS_BITS.alarm : 0);
}

function result(values: ResultValues, ok: boolean, ng: boolean, error: boolean, alarm: boolean): PlcWrite[] {
  return [
    { signal: "ok", value: ok },
    { signal: "ng", value: ng },
    { signal: "error", value: error },
    { signal: "alarm", value: alarm },
    { signal: "values", values },
    { signal: "resultReady", value: true },
    { signal: "ready", value: true },
  ];
}

export function handshakeWrites(step: HandshakeStep): PlcWrite[] {
  switch (step.kind) {
    case "deploy":
      return [{ signal: "ready", value: true }];
    case "trigger":
      return [
        { signal: "ready", value: false },
        { signal: "resultReady", value: false },
      ];
    case "verdict": {
      const values: ResultValues = {
        statusWord: statusWord(step.verdict, step.alarm),
        score: step.score ?? 0,
        regionCount: step.regionCount,
        sequence: step.sequence,
        resultId: step.resultId ?? 0,
      };
      return result(values, step.verdict === "OK", step.verdict === "NG", false, step.alarm);
    }
    case "error": {
      // An inspection that failed before the threshold node has no result record, so no result id.
      const values: ResultValues = { statusWord: statusWord("error", step.alarm), score: 0, regionCount: 0, sequence: step.sequence, resultId: 0 };
      return result(values, false, false, true, step.alarm);
    }
    case "ack": {
      const writes: PlcWrite[] = [{ signal: "resultReady", value: false }];
      if (step.acknowledged) writes.push({ signal: "alarm", value: false });
      writes.push({ signal: "error", value: false });
      return writes;
    }
    case "reset":
      return [
        { signal: "ok", value: false },
        { signal: "ng", value: false },
        { signal: "error", value: false },
        { signal: "alarm", value: false },
        { signal: "resultReady", value: false },
        { signal: "ready", value: true },
      ];
  }
}
