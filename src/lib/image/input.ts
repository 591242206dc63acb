/**
 * Finds encoded image bytes in whatever a flow puts in msg.payload: a Buffer, a typed array,
 * base64 text, a data: URL, or a Buffer that went through JSON ({type: "Buffer", data: [...]}).
 */

const DATA_URL = /^data:([^,]*?)(;base64)?,(.*)$/is;
/** Standard or URL-safe alphabet, optional padding, line breaks allowed (MIME base64). */
const BASE64_TEXT = /^[A-Za-z0-9+/\-_\s]+={0,2}\s*$/;

function fromBase64(text: string): Buffer | undefined {
  if (!BASE64_TEXT.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.length > 0 ? bytes : undefined;
}

function fromDataUrl(text: string): Buffer | undefined {
  const match = DATA_URL.exec(text);
  if (!match) return undefined;
  const [, , base64, body = ""] = match;
  if (base64) return fromBase64(body);
  // Plain data URLs (e.g. inline SVG) are percent-encoded text.
  try {
    const bytes = Buffer.from(decodeURIComponent(body), "utf8");
    return bytes.length > 0 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

function isSerialisedBuffer(value: object): value is { type: "Buffer"; data: number[] } {
  const v = value as Record<string, unknown>;
  return v["type"] === "Buffer" && Array.isArray(v["data"]) && v["data"].every((n) => Number.isInteger(n));
}

/** The encoded image bytes in `value`, or undefined when it holds none. */
export function toImageBuffer(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value.length > 0 ? value : undefined;
  if (value instanceof Uint8Array) {
    return value.length > 0 ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : undefined;
  }
  if (value instanceof ArrayBuffer) return value.byteLength > 0 ? Buffer.from(value) : undefined;
  if (typeof value === "string") {
    const text = value.trim();
    return text.startsWith("data:") ? fromDataUrl(text) : fromBase64(text);
  }
  if (typeof value === "object" && value !== null && isSerialisedBuffer(value) && value.data.length > 0) {
    return Buffer.from(value.data);
  }
  return undefined;
}
