/** PLC messages of the alarm node: the handshake and its Modbus and OPC-UA encodings. */
import { handshakeWrites, type HandshakeStep } from "./handshake";
import { encodeModbus, type ModbusWriteMessage } from "./modbus";
import { encodeOpcUa, type OpcUaWriteMessage } from "./opcua";
import type { PlcOptions } from "./options";

export * from "./signals";
export { handshakeWrites, statusWord, HANDSHAKE_STEPS } from "./handshake";
export type { HandshakeStep } from "./handshake";
export { encodeModbus, registerBlock, toRegister, FC_WRITE_SINGLE_COIL, FC_WRITE_MULTIPLE_REGISTERS } from "./modbus";
export type { FlexWritePayload, ModbusWriteMessage } from "./modbus";
export { encodeOpcUa } from "./opcua";
export type { OpcUaDataType, OpcUaWriteMessage } from "./opcua";
export { parseNodeId } from "./node-id";
export {
  parsePlcOptions,
  coilKey,
  nodeIdKey,
  PLC_PROTOCOLS,
  DEFAULT_COILS,
  DEFAULT_NODE_IDS,
  DEFAULT_UNIT_ID,
  DEFAULT_REGISTER_ADDRESS,
  DEFAULT_SCORE_SCALE,
  MAX_ADDRESS,
  REGISTER_COUNT,
} from "./options";
export type { PlcOptions, PlcProtocol, ModbusOptions, OpcUaOptions } from "./options";

export type PlcMessage = ModbusWriteMessage | OpcUaWriteMessage;

/** The messages for one handshake step in the configured protocol, in the order to send them. */
export function plcMessages(step: HandshakeStep, options: PlcOptions): PlcMessage[] {
  const writes = handshakeWrites(step);
  return options.protocol === "modbus" ? encodeModbus(writes, options.modbus) : encodeOpcUa(writes, options.opcua);
}
