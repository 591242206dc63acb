/**
 * Reading what the alarm node is sent: verdicts from the threshold node (through mask-to-region
 * or not), commands, and the fields that name a part. Message values are unknown until checked.
 */
import { DefectError } from "../errors";
import { describe, isRecord, readCommand as readMessageCommand, readRegions, regionCountOf, scoreOf } from "../message";
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

function readVerdict(payload: unknown): Verdict {
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

/** The message properties a verdict is read from (a type, not an interface, so that it is a MessageView). */
export type VerdictMessage = {
  payload: unknown;
  regions: unknown;
  partId: unknown;
  filename: unknown;
  msgid: unknown;
};

/** The part a verdict message describes; part id from msg.partId, else msg.filename, else msg._msgid. */
export function readInspection(msg: VerdictMessage, time: number): Inspection {
  const verdict = readVerdict(msg.payload);
  const count = regionCountOf(msg.payload);
  const part: Inspection = {
    time,
    verdict,
    partId: idText(msg.partId) ?? idText(msg.filename) ?? idText(msg.msgid) ?? "",
    score: scoreOf(msg.payload) ?? null,
    regions: readRegions(msg),
  };
  if (count !== undefined) part.regionCount = count;
  return part;
}
