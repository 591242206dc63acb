/**
 * Reading what the alarm node is sent: verdicts from the threshold node (through mask-to-region
 * or not), commands, and the fields that name a part. Message values are unknown until checked.
 */
import { DefectError } from "../errors";
import { describe, isRecord, readCommand as readMessageCommand, readRegions, readResultRef, regionCountOf, scoreOf, type MessageView } from "../message";
import { VERDICTS, type Inspection, type Verdict } from "./types";

export const ALARM_COMMANDS = ["ack", "trigger", "reset"] as const;
export type AlarmCommand = (typeof ALARM_COMMANDS)[number];

function noVerdict(reason: string): DefectError {
  return new DefectError("noVerdictInput", `msg.payload carries no verdict: ${reason}`, { reason });
}

/** msg.command (its value), or undefined for a message that is not a command. */
export function readCommand(value: unknown): AlarmCommand | undefined {
  return readMessageCommand({ command: value }, ALARM_COMMANDS);
}

/** msg.payload.verdict of a threshold node's verdict; noVerdictInput saying what was there instead. */
export function readVerdict(payload: unknown): Verdict {
  if (!isRecord(payload)) throw noVerdict(`expected an object from the threshold node, got ${describe(payload)}`);
  const value = payload["verdict"];
  if (value === undefined) throw noVerdict("msg.payload.verdict is missing");
  const verdict = VERDICTS.find((v) => v === value);
  if (verdict === undefined) throw noVerdict(`msg.payload.verdict must be one of ${VERDICTS.join(", ")}, got ${JSON.stringify(value)}`);
  return verdict;
}

function idText(value: unknown): string | undefined {
  if (typeof value === "string" && value.trim() !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * The part a verdict message describes. Part id from its result record (msg.result.partId, which
 * follows the detector's *Part id in*), else msg.partId, else msg.filename, else msg._msgid.
 */
export function readInspection(msg: MessageView, time: number): Inspection {
  const verdict = readVerdict(msg.payload);
  const count = regionCountOf(msg.payload);
  const result = readResultRef(msg);
  const part: Inspection = {
    time,
    verdict,
    partId: result.partId ?? idText(msg.partId) ?? idText(msg.filename) ?? idText(msg._msgid) ?? "",
    resultId: result.id,
    score: scoreOf(msg.payload) ?? null,
    regions: readRegions(msg),
  };
  if (count !== undefined) part.regionCount = count;
  return part;
}
