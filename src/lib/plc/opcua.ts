/**
 * Handshake writes as node-red-contrib-opcua client messages: msg.topic is the NodeId,
 * msg.datatype the OPC-UA type and msg.payload the value; msg.action "write" makes the client
 * write whatever action its node is set to.
 */
import type { OpcUaOptions } from "./options";
import type { PlcWrite, ValueSignal } from "./signals";

export type OpcUaDataType = "Boolean" | "Double" | "UInt16" | "UInt32";

export interface OpcUaWriteMessage {
  topic: string;
  datatype: OpcUaDataType;
  payload: boolean | number;
  action: "write";
}

const UINT32_MODULUS = 2 ** 32;
const UINT32_MAX = UINT32_MODULUS - 1;

const VALUE_TYPES: Record<ValueSignal, OpcUaDataType> = {
  statusWord: "UInt16",
  score: "Double",
  regionCount: "UInt32",
  sequence: "UInt32",
  resultId: "UInt32",
};

/** Counters wrap at 2^32 rather than stick: a PLC sees a new result as a change. */
function wrapUInt32(value: number): number {
  return Number.isFinite(value) ? ((Math.floor(value) % UINT32_MODULUS) + UINT32_MODULUS) % UINT32_MODULUS : 0;
}

function clampUInt32(value: number): number {
  return Number.isNaN(value) ? 0 : Math.min(UINT32_MAX, Math.max(0, Math.round(value)));
}

export function encodeOpcUa(writes: readonly PlcWrite[], options: OpcUaOptions): OpcUaWriteMessage[] {
  const messages: OpcUaWriteMessage[] = [];
  const add = (topic: string | undefined, datatype: OpcUaDataType, payload: boolean | number): void => {
    if (topic !== undefined) messages.push({ topic, datatype, payload, action: "write" });
  };
  for (const write of writes) {
    if (write.signal !== "values") {
      add(options.nodeIds[write.signal], "Boolean", write.value);
      continue;
    }
    const { statusWord, score, regionCount, sequence, resultId } = write.values;
    add(options.nodeIds.statusWord, VALUE_TYPES.statusWord, statusWord);
    // Doubles carry the score as it is; a missing score was already made 0 by the handshake.
    add(options.nodeIds.score, VALUE_TYPES.score, Number.isFinite(score) ? score : 0);
    add(options.nodeIds.regionCount, VALUE_TYPES.regionCount, clampUInt32(regionCount));
    add(options.nodeIds.sequence, VALUE_TYPES.sequence, wrapUInt32(sequence));
    add(options.nodeIds.resultId, VALUE_TYPES.resultId, wrapUInt32(resultId));
  }
  return messages;
}
