/**
 * The signals the alarm node exchanges with a PLC, named after the handshake vision systems use
 * (LandingEdge: Trigger in; Ready, Result ready, OK, NG, Error out; Acknowledge in), and the
 * protocol-free writes the handshake produces before an encoder turns them into Modbus or OPC-UA.
 */

export const BOOLEAN_SIGNALS = ["ready", "resultReady", "ok", "ng", "error", "alarm"] as const;
export type BooleanSignal = (typeof BOOLEAN_SIGNALS)[number];

/** Result values: one Modbus holding-register block, or one OPC-UA variable each. */
export const VALUE_SIGNALS = ["statusWord", "score", "regionCount", "sequence", "resultId"] as const;
export type ValueSignal = (typeof VALUE_SIGNALS)[number];

export type PlcSignal = BooleanSignal | ValueSignal;

export interface ResultValues {
  statusWord: number;
  /** The raw score; the Modbus encoder scales it, OPC-UA writes it as a Double. */
  score: number;
  regionCount: number;
  /** Results since deploy; encoders wrap it to their integer width. */
  sequence: number;
  /**
   * msg.result.id, the station's result number that the line's records, archive and dashboard
   * use, so the PLC can name the result it took; 0 when there is none (an inspection error, a
   * hand-made verdict). Encoders write it modulo 2^32.
   */
  resultId: number;
}

/**
 * One write of the handshake. The values travel together because Modbus writes them in one
 * request: a PLC must never read a new score beside an old sequence number.
 */
export type PlcWrite = { signal: BooleanSignal; value: boolean } | { signal: "values"; values: ResultValues };

/** Bits of the status word (register 0 of the block). */
export const STATUS_BITS = {
  ok: 1 << 0,
  ng: 1 << 1,
  uncertain: 1 << 2,
  error: 1 << 3,
  /** The alarm is active; with latch on it stays set until acknowledged. */
  alarm: 1 << 4,
} as const;
