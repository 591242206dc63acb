/**
 * The wire format of a part and of its inspection result between a line and its inspection
 * workers over an MQTT v5 broker (docs/scale-out.md). A part is the image bytes as the MQTT
 * payload (no base64, no JSON around them) with its metadata as MQTT v5 user properties, so a
 * broker, a bridge or a debugging client sees a plain image; a result is a small JSON object.
 * Both carry their format and version, so a worker or line of another release can refuse what it
 * does not read instead of guessing.
 */
import { DefectError } from "../errors";
import { isRecord } from "../message";
import type { ResultRecord } from "../message";

/** Format names and the version this package writes and reads. */
export const PART_FORMAT = "defect-part";
export const RESULT_FORMAT = "defect-result";
export const WIRE_VERSION = 1;

/** The user property keys of a part (MQTT v5 user properties are string pairs). */
export const PART_PROPERTIES = {
  format: "dd-format",
  partId: "dd-part",
  recipe: "dd-recipe",
  jobId: "dd-job",
  captured: "dd-captured",
  attempt: "dd-attempt",
} as const;

/** Content types by sharp's format name; anything else travels as application/octet-stream. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  tiff: "image/tiff",
  gif: "image/gif",
  bmp: "image/bmp",
  avif: "image/avif",
};

/** A part as the line knows it. */
export interface WirePart {
  partId: string;
  image: Buffer;
  recipe: string | null;
  jobId: string | null;
  /** ISO 8601 time the image was taken (the line's clock). */
  captured: string;
  /** 1 for the first publication, 2.. for a part the collector published again. */
  attempt: number;
  contentType: string;
}

/** What the core `mqtt out` node publishes from a message (MQTT v5 fields). */
export interface MqttFields {
  payload: Buffer | string;
  contentType: string;
  userProperties: Record<string, string>;
}

/** A result on the wire: the result record of the worker's threshold (and mask to region). */
export interface WireResult {
  format: typeof RESULT_FORMAT;
  version: typeof WIRE_VERSION;
  partId: string;
  /** Which publication of the part the worker inspected. */
  attempt: number;
  /** The worker that inspected it (its configured name), for the line's accounting by worker. */
  worker: string;
  record: ResultRecord;
}

function invalid(what: string, details: Record<string, string | number> = {}): DefectError {
  return new DefectError("wireFormatInvalid", `not a ${what}`, { reason: what, ...details });
}

export function contentTypeOf(format: string | undefined): string {
  return (format !== undefined && CONTENT_TYPES[format.toLowerCase()]) || "application/octet-stream";
}

/** The MQTT fields of a part. */
export function encodePart(part: WirePart): MqttFields {
  const properties: Record<string, string> = {
    [PART_PROPERTIES.format]: `${PART_FORMAT}/${WIRE_VERSION}`,
    [PART_PROPERTIES.partId]: part.partId,
    [PART_PROPERTIES.captured]: part.captured,
    [PART_PROPERTIES.attempt]: String(part.attempt),
  };
  if (part.recipe !== null) properties[PART_PROPERTIES.recipe] = part.recipe;
  if (part.jobId !== null) properties[PART_PROPERTIES.jobId] = part.jobId;
  return { payload: part.image, contentType: part.contentType, userProperties: properties };
}

/** "name/version" of a format property; wireFormatInvalid or wireVersion when it is not `name` at this version. */
function checkFormat(value: unknown, name: string): void {
  if (typeof value !== "string" || !value.startsWith(`${name}/`)) {
    throw new DefectError("wireFormatInvalid", `the message is not a ${name} message (format ${JSON.stringify(value) ?? "missing"})`, {
      reason: `format ${JSON.stringify(value) ?? "missing"}`,
    });
  }
  const version = Number(value.slice(name.length + 1));
  if (version !== WIRE_VERSION) {
    throw new DefectError("wireVersion", `${name} version ${value.slice(name.length + 1)} is not read by this package (it reads version ${WIRE_VERSION})`, {
      format: name,
      version: value.slice(name.length + 1),
      supported: WIRE_VERSION,
    });
  }
}

/** Whether MQTT user properties say this is a part (any version). */
export function looksLikePart(userProperties: unknown): boolean {
  const format = isRecord(userProperties) ? userProperties[PART_PROPERTIES.format] : undefined;
  return typeof format === "string" && format.startsWith(`${PART_FORMAT}/`);
}

function property(properties: Record<string, unknown>, key: string): string | null {
  const value = properties[key];
  return typeof value === "string" && value !== "" ? value : null;
}

/** A part from what `mqtt in` delivers: payload (a Buffer: the node's output "a Buffer"), content type, user properties. */
export function decodePart(payload: unknown, contentType: unknown, userProperties: unknown): WirePart {
  if (!isRecord(userProperties)) throw invalid("part: no MQTT v5 user properties (is the broker connection MQTT v5?)");
  checkFormat(userProperties[PART_PROPERTIES.format], PART_FORMAT);
  const partId = property(userProperties, PART_PROPERTIES.partId);
  if (partId === null) throw invalid("part: the part id property dd-part is missing");
  if (!Buffer.isBuffer(payload) || payload.length === 0) {
    throw invalid("part: the payload must be the image bytes as a Buffer (set the mqtt in node's output to a Buffer)", { partId });
  }
  const attempt = Number(property(userProperties, PART_PROPERTIES.attempt) ?? "1");
  return {
    partId,
    image: payload,
    recipe: property(userProperties, PART_PROPERTIES.recipe),
    jobId: property(userProperties, PART_PROPERTIES.jobId),
    captured: property(userProperties, PART_PROPERTIES.captured) ?? "",
    attempt: Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1,
    contentType: typeof contentType === "string" && contentType !== "" ? contentType : "application/octet-stream",
  };
}

/** The MQTT fields of a result: JSON text, so every client reads it. */
export function encodeResult(result: Omit<WireResult, "format" | "version">): MqttFields {
  const body: WireResult = { format: RESULT_FORMAT, version: WIRE_VERSION, ...result };
  return {
    payload: JSON.stringify(body),
    contentType: "application/json",
    userProperties: { [PART_PROPERTIES.format]: `${RESULT_FORMAT}/${WIRE_VERSION}`, [PART_PROPERTIES.partId]: result.partId },
  };
}

function parseJson(payload: unknown): unknown {
  if (isRecord(payload)) return payload;
  const text = Buffer.isBuffer(payload) ? payload.toString("utf8") : payload;
  if (typeof text !== "string") throw invalid("result: the payload is neither JSON text nor an object");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid("result: the payload is not JSON");
  }
}

/** A result from what `mqtt in` delivers (a Buffer, JSON text, or an object already parsed). */
export function decodeResult(payload: unknown): WireResult {
  const body = parseJson(payload);
  if (!isRecord(body)) throw invalid("result: the payload is not a JSON object");
  checkFormat(`${String(body["format"])}/${String(body["version"])}`, RESULT_FORMAT);
  const { partId, attempt, worker, record } = body;
  if (typeof partId !== "string" || partId === "") throw invalid("result: partId is missing");
  if (!isRecord(record) || typeof record["verdict"] !== "string") throw invalid("result: the result record is missing", { partId });
  return {
    format: RESULT_FORMAT,
    version: WIRE_VERSION,
    partId,
    attempt: Number.isSafeInteger(attempt) && (attempt as number) >= 1 ? (attempt as number) : 1,
    worker: typeof worker === "string" ? worker : "",
    record: record as unknown as ResultRecord,
  };
}
