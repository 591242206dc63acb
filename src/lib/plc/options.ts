/**
 * Where the PLC signals live, parsed once from editor values. Only the chosen protocol's fields
 * are checked. A field missing from the config takes its default; an empty one means "do not
 * write this signal", so a PLC without, say, an Error bit needs no dummy address.
 */
import { integerOption, invalidOption, isMissing, numberOption, oneOf, optionText } from "../config/option-values";
import { parseNodeId } from "./node-id";
import { BOOLEAN_SIGNALS, VALUE_SIGNALS, type BooleanSignal, type PlcSignal } from "./signals";

export const PLC_PROTOCOLS = ["modbus", "opcua"] as const;
export type PlcProtocol = (typeof PLC_PROTOCOLS)[number];

export const MAX_ADDRESS = 65_535;
/** statusWord, score, regionCount, sequence, and the result id's two words (a 32-bit number). */
export const REGISTER_COUNT = 6;
/** Modbus TCP unit ids are a byte (serial lines stop at 247, which the PLC side enforces). */
const MAX_UNIT_ID = 255;
const MAX_SCORE_SCALE = 1e9;

export const DEFAULT_UNIT_ID = 1;
export const DEFAULT_REGISTER_ADDRESS = 0;
/** Anomaly scores of normalised models are 0..1: x1000 keeps three decimals in a 16-bit register. */
export const DEFAULT_SCORE_SCALE = 1000;
export const DEFAULT_COILS: Record<BooleanSignal, number> = { ready: 0, resultReady: 1, ok: 2, ng: 3, error: 4, alarm: 5 };
export const DEFAULT_NODE_IDS: Record<PlcSignal, string> = {
  ready: "ns=1;s=Defect.Ready",
  resultReady: "ns=1;s=Defect.ResultReady",
  ok: "ns=1;s=Defect.OK",
  ng: "ns=1;s=Defect.NG",
  error: "ns=1;s=Defect.Error",
  alarm: "ns=1;s=Defect.Alarm",
  score: "ns=1;s=Defect.Score",
  regionCount: "ns=1;s=Defect.RegionCount",
  sequence: "ns=1;s=Defect.Sequence",
  resultId: "ns=1;s=Defect.ResultId",
  // Optional: the OPC-UA side has typed variables for each bit, so the word is off by default.
  statusWord: "",
};

export interface ModbusOptions {
  unitId: number;
  /** Coil address of each signal; absent = not written. */
  coils: Partial<Record<BooleanSignal, number>>;
  /** First holding register of the result block; undefined = not written. */
  registerAddress: number | undefined;
  scoreScale: number;
}

export interface OpcUaOptions {
  /** NodeId of each signal; absent = not written. */
  nodeIds: Partial<Record<PlcSignal, string>>;
}

export interface PlcOptions {
  protocol: PlcProtocol;
  modbus: ModbusOptions;
  opcua: OpcUaOptions;
}

function capitalised(signal: string): string {
  return signal.charAt(0).toUpperCase() + signal.slice(1);
}

/** Editor key of a signal's coil address: coilReady, coilResultReady, coilOk, ... */
export function coilKey(signal: BooleanSignal): string {
  return `coil${capitalised(signal)}`;
}

/** Editor key of a signal's NodeId: nodeReady, ..., nodeStatusWord. */
export function nodeIdKey(signal: PlcSignal): string {
  return `node${capitalised(signal)}`;
}

function rejectDuplicate(seen: Map<string, string>, key: string, option: string, value: unknown, what: string): void {
  const other = seen.get(key);
  if (other !== undefined) throw invalidOption(option, `an address not used by ${other} (${what})`, value);
  seen.set(key, option);
}

function parseModbus(input: Record<string, unknown>): ModbusOptions {
  const coils: Partial<Record<BooleanSignal, number>> = {};
  const used = new Map<string, string>();
  for (const signal of BOOLEAN_SIGNALS) {
    const option = coilKey(signal);
    const value = input[option];
    if (value === undefined) coils[signal] = DEFAULT_COILS[signal];
    else if (!isMissing(value)) coils[signal] = integerOption(option, value, 0, MAX_ADDRESS, 0);
    const address = coils[signal];
    if (address !== undefined) rejectDuplicate(used, String(address), option, value ?? address, "each signal needs its own coil");
  }
  const registerValue = input["registerAddress"];
  const lastStart = MAX_ADDRESS - REGISTER_COUNT + 1;
  const registerAddress =
    registerValue === undefined
      ? DEFAULT_REGISTER_ADDRESS
      : isMissing(registerValue)
        ? undefined
        : integerOption("registerAddress", registerValue, 0, lastStart, 0);
  return {
    unitId: integerOption("unitId", input["unitId"], 0, MAX_UNIT_ID, DEFAULT_UNIT_ID),
    coils,
    registerAddress,
    scoreScale: numberOption("scoreScale", input["scoreScale"], { min: 0, max: MAX_SCORE_SCALE, minIncluded: false }, DEFAULT_SCORE_SCALE),
  };
}

function parseOpcUa(input: Record<string, unknown>): OpcUaOptions {
  const nodeIds: Partial<Record<PlcSignal, string>> = {};
  const used = new Map<string, string>();
  for (const signal of [...BOOLEAN_SIGNALS, ...VALUE_SIGNALS]) {
    const option = nodeIdKey(signal);
    const value = input[option];
    const text = value === undefined ? DEFAULT_NODE_IDS[signal] : optionText(value);
    if (text === "") continue;
    const id = parseNodeId(option, text);
    rejectDuplicate(used, id, option, text, "each signal needs its own variable");
    nodeIds[signal] = id;
  }
  return { nodeIds };
}

const UNUSED_MODBUS: ModbusOptions = { unitId: DEFAULT_UNIT_ID, coils: {}, registerAddress: undefined, scoreScale: DEFAULT_SCORE_SCALE };

export function parsePlcOptions(input: Record<string, unknown>): PlcOptions {
  const protocol = oneOf("protocol", input["protocol"], PLC_PROTOCOLS, "modbus");
  return {
    protocol,
    modbus: protocol === "modbus" ? parseModbus(input) : UNUSED_MODBUS,
    opcua: protocol === "opcua" ? parseOpcUa(input) : { nodeIds: {} },
  };
}
