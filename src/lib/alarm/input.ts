/**
 * Reading what the alarm node is sent: verdicts from the threshold node (through mask-to-region
 * or not), commands, and the fields that name a part. Message values are unknown until checked.
 */
import { DefectError } from "../errors";
import { VERDICTS, type Inspection, type RegionLike, type Verdict } from "./types";

export const ALARM_COMMANDS = ["ack", "trigger", "reset"] as const;
export type AlarmCommand = (typeof ALARM_COMMANDS)[number];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function noVerdict(reason: string): DefectError {
  return new DefectError("noVerdictInput", `msg.payload carries no verdict: ${reason}`, { reason });
}

/** msg.command, or undefined for a message that is not a command. */
export function readCommand(value: unknown): AlarmCommand | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const known = ALARM_COMMANDS.find((c) => c === value);
  if (known === undefined) {
    throw new DefectError("invalidOption", `msg.command must be one of ${ALARM_COMMANDS.join(", ")}, got ${JSON.stringify(value)}`, {
      option: "msg.command",
      value: String(value),
      expected: `one of ${ALARM_COMMANDS.join(", ")}`,
    });
  }
  return known;
}

function readVerdict(payload: unknown): Verdict {
  if (!isRecord(payload)) throw noVerdict(`expected an object from the threshold node, got ${payload === null ? "null" : typeof payload}`);
  const value = payload["verdict"];
  if (value === undefined) throw noVerdict("msg.payload.verdict is missing");
  const verdict = VERDICTS.find((v) => v === value);
  if (verdict === undefined) throw noVerdict(`msg.payload.verdict must be one of ${VERDICTS.join(", ")}, got ${JSON.stringify(value)}`);
  return verdict;
}

/** Regions with a finite box; anything else in the list is not a region and is left out. */
export function readRegions(value: unknown): RegionLike[] {
  if (!Array.isArray(value)) return [];
  const regions: RegionLike[] = [];
  for (const item of value as unknown[]) {
    if (!isRecord(item)) continue;
    const { x, y, width, height, area, maxScore } = item;
    if (!isFiniteNumber(x) || !isFiniteNumber(y) || !isFiniteNumber(width) || !isFiniteNumber(height)) continue;
    const region: RegionLike = { x, y, width, height };
    if (isFiniteNumber(area)) region.area = area;
    if (isFiniteNumber(maxScore)) region.maxScore = maxScore;
    regions.push(region);
  }
  return regions;
}

function idText(value: unknown): string | undefined {
  if (typeof value === "string" && value.trim() !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

export interface VerdictMessage {
  payload: unknown;
  regions: unknown;
  partId: unknown;
  filename: unknown;
  msgid: unknown;
}

/** The part a verdict message describes; part id from msg.partId, else msg.filename, else msg._msgid. */
export function readInspection(msg: VerdictMessage, time: number): Inspection {
  const verdict = readVerdict(msg.payload);
  const payload = msg.payload as Record<string, unknown>;
  const score = isFiniteNumber(payload["score"]) ? payload["score"] : null;
  const regions = readRegions(msg.regions);
  const count = payload["regionCount"];
  const part: Inspection = {
    time,
    verdict,
    partId: idText(msg.partId) ?? idText(msg.filename) ?? idText(msg.msgid) ?? "",
    score,
    regions,
  };
  if (isFiniteNumber(count) && Number.isInteger(count) && count >= 0) part.regionCount = count;
  return part;
}
