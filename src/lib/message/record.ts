/**
 * The two checks every message reader starts with. Messages are plain JSON-like objects, but a
 * Buffer, a typed array or an array is an object too: none of them is a set of named fields.
 */

/** A message the writers change: its properties hold anything until a reader has checked them. */
export type MessageFields = Record<string, unknown>;

/**
 * A message as the readers see it. An index signature rather than `{ transform?: unknown }`:
 * TypeScript refuses a Node-RED message for a type whose properties are all optional.
 */
export type MessageView = { readonly [property: string]: unknown };

/** A plain object with named fields: not null, not an array, not binary data (Buffer, typed array, ArrayBuffer). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}

/**
 * What a value is, for error messages ("got number"). An empty Buffer is named as such: it
 * would otherwise read as if no Buffer had been sent (a zero-byte file or camera frame).
 */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Uint8Array && value.length === 0) return "empty Buffer";
  if (Buffer.isBuffer(value)) return "Buffer";
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.constructor.name;
  return typeof value;
}

/** A finite number, or undefined. */
export function finiteNumber(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
