/**
 * Handshake writes as node-red-contrib-modbus Flex-Write messages: one FC 5 (write single coil)
 * a boolean signal, one FC 16 (write multiple registers) for the result block
 * [statusWord, score x scale, regionCount, sequence, resultId high word, resultId low word].
 */
import type { ModbusOptions } from "./options";
import { REGISTER_COUNT } from "./options";
import type { PlcWrite, ResultValues } from "./signals";

export const FC_WRITE_SINGLE_COIL = 5;
export const FC_WRITE_MULTIPLE_REGISTERS = 16;
const REGISTER_MAX = 65_535;
const REGISTER_MODULUS = 65_536;
const UINT32_MODULUS = 2 ** 32;

/** msg.payload of a Flex-Write message. */
export interface FlexWritePayload {
  value: boolean | number[];
  fc: typeof FC_WRITE_SINGLE_COIL | typeof FC_WRITE_MULTIPLE_REGISTERS;
  unitid: number;
  address: number;
  quantity: number;
}

export interface ModbusWriteMessage {
  /** The signal written ("ng", ..., or "values" for the register block): for debug and switch nodes. */
  topic: string;
  payload: FlexWritePayload;
}

/** A 16-bit register holds 0..65535: out-of-range values stick at the ends, NaN reads 0. */
export function toRegister(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.min(REGISTER_MAX, Math.max(0, Math.round(value)));
}

/** `value` modulo `modulus`, for counters that wrap (negative and fractional values too). */
function wrap(value: number, modulus: number): number {
  return Number.isFinite(value) ? ((Math.floor(value) % modulus) + modulus) % modulus : 0;
}

export function registerBlock(values: ResultValues, scoreScale: number): number[] {
  // The sequence wraps instead of sticking: a PLC detects a new result by a change, not a size.
  const sequence = wrap(values.sequence, REGISTER_MODULUS);
  // A 32-bit unsigned integer in two registers, high word first (Modbus's big-endian order).
  const resultId = wrap(values.resultId, UINT32_MODULUS);
  const high = Math.floor(resultId / REGISTER_MODULUS);
  return [toRegister(values.statusWord), toRegister(values.score * scoreScale), toRegister(values.regionCount), sequence, high, resultId % REGISTER_MODULUS];
}

export function encodeModbus(writes: readonly PlcWrite[], options: ModbusOptions): ModbusWriteMessage[] {
  const messages: ModbusWriteMessage[] = [];
  for (const write of writes) {
    if (write.signal === "values") {
      if (options.registerAddress === undefined) continue;
      messages.push({
        topic: write.signal,
        payload: {
          value: registerBlock(write.values, options.scoreScale),
          fc: FC_WRITE_MULTIPLE_REGISTERS,
          unitid: options.unitId,
          address: options.registerAddress,
          quantity: REGISTER_COUNT,
        },
      });
      continue;
    }
    const address = options.coils[write.signal];
    if (address === undefined) continue;
    messages.push({
      topic: write.signal,
      payload: { value: write.value, fc: FC_WRITE_SINGLE_COIL, unitid: options.unitId, address, quantity: 1 },
    });
  }
  return messages;
}
