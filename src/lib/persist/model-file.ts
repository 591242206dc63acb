/**
 * The package's file format for learned models (".ddm"): a small versioned header with JSON
 * metadata, then binary sections (typed arrays, stored raw), then a SHA-256 of everything
 * before it. Layout:
 *
 *   0   8 bytes  magic "DDMODEL\0"
 *   8   uint32   format version (little-endian)
 *   12  uint32   header length H in bytes
 *   16  H bytes  header, UTF-8 JSON: { endianness, metadata, sections: [{name, type, offset, length}] }
 *       zero padding to a multiple of 8: the data area starts here; section offsets (bytes)
 *       count from it, each 8-aligned so a section can be read in place without copying
 *   end - 32     SHA-256 of all preceding bytes
 *
 * Raw typed arrays make loading a 250 MB bank a read plus a view instead of a parse.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { DefectError, describeError } from "../errors";
import { errnoCode } from "../source/read-file";
import { writeFileAtomic } from "./atomic-write";
import { HASH_SLICE_BYTES, SHA256_BYTES, updateHash } from "./checksum";
import { isRecord } from "../message";

export const MODEL_FILE_MAGIC = Buffer.from("DDMODEL\0", "latin1");
export const MODEL_FILE_VERSION = 1;
export const MODEL_FILE_EXTENSION = ".ddm";
const PREFIX_BYTES = 16;
const VERSION_OFFSET = 8;
const HEADER_LENGTH_OFFSET = 12;
const SECTION_ALIGN = 8;
/** Headers are a few KB of JSON; anything far larger is a damaged length field. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** Raw typed arrays are written in the host's byte order; every supported platform is little-endian. */
const LITTLE_ENDIAN = "LE";

export type SectionArray = Float32Array | Int32Array;
export type SectionType = "float32" | "int32";

export interface ModelFileContent {
  /** Plain JSON: what the model is and what it must match. */
  metadata: Record<string, unknown>;
  sections: Record<string, SectionArray>;
}

export interface ModelFile extends ModelFileContent {
  version: number;
}

interface SectionEntry {
  name: string;
  type: SectionType;
  /** Bytes from the start of the data area. */
  offset: number;
  /** Elements, not bytes. */
  length: number;
}

const BYTES_PER_ELEMENT = 4;

function alignUp(n: number): number {
  return Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;
}

function typeOf(array: SectionArray): SectionType {
  return array instanceof Float32Array ? "float32" : "int32";
}

function bytesOf(array: SectionArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** The error for a file that is not a usable model file (the format's readers and the stores that read its sections). */
export function unusableModelFile(path: string, reason: string): DefectError {
  return new DefectError("modelFileInvalid", `${path} is not a usable model file: ${reason}`, { path, reason });
}

function requireLittleEndian(path: string): void {
  if (endianness() !== LITTLE_ENDIAN) throw unusableModelFile(path, "model files are only supported on little-endian machines");
}

/** The header bytes and where each section goes. */
function plan(content: ModelFileContent): { head: Buffer; entries: SectionEntry[]; arrays: SectionArray[] } {
  const entries: SectionEntry[] = [];
  const arrays: SectionArray[] = [];
  let offset = 0;
  for (const [name, array] of Object.entries(content.sections)) {
    entries.push({ name, type: typeOf(array), offset, length: array.length });
    arrays.push(array);
    offset = alignUp(offset + array.byteLength);
  }
  const json = Buffer.from(JSON.stringify({ endianness: LITTLE_ENDIAN, metadata: content.metadata, sections: entries }), "utf8");
  const head = Buffer.alloc(alignUp(PREFIX_BYTES + json.length));
  MODEL_FILE_MAGIC.copy(head, 0);
  head.writeUInt32LE(MODEL_FILE_VERSION, VERSION_OFFSET);
  head.writeUInt32LE(json.length, HEADER_LENGTH_OFFSET);
  json.copy(head, PREFIX_BYTES);
  return { head, entries, arrays };
}

async function* fileChunks(content: ModelFileContent): AsyncGenerator<Uint8Array> {
  const { head, arrays } = plan(content);
  const hash = createHash("sha256");
  const emit = async function* (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += HASH_SLICE_BYTES) {
      const slice = bytes.subarray(at, Math.min(bytes.length, at + HASH_SLICE_BYTES));
      await updateHash(hash, slice);
      yield slice;
    }
  };
  yield* emit(head);
  for (const array of arrays) {
    yield* emit(bytesOf(array));
    const padding = alignUp(array.byteLength) - array.byteLength;
    if (padding > 0) yield* emit(new Uint8Array(padding));
  }
  yield hash.digest();
}

/** Writes the model atomically (see writeFileAtomic): a reader sees the old file or the new one. */
export async function writeModelFile(path: string, content: ModelFileContent): Promise<void> {
  requireLittleEndian(path);
  await writeFileAtomic(path, fileChunks(content));
}

function parseEntry(path: string, value: unknown): SectionEntry {
  const ok =
    isRecord(value) &&
    typeof value["name"] === "string" &&
    (value["type"] === "float32" || value["type"] === "int32") &&
    Number.isSafeInteger(value["offset"]) &&
    Number.isSafeInteger(value["length"]) &&
    (value["offset"] as number) >= 0 &&
    (value["length"] as number) >= 0 &&
    (value["offset"] as number) % SECTION_ALIGN === 0;
  if (!ok) throw unusableModelFile(path, `malformed section entry ${JSON.stringify(value)}`);
  return value as unknown as SectionEntry;
}

function parseHeader(path: string, bytes: Uint8Array, length: number): { metadata: Record<string, unknown>; entries: SectionEntry[] } {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + PREFIX_BYTES, length).toString("utf8"));
  } catch (error) {
    throw unusableModelFile(path, `the header is not JSON (${describeError(error)})`);
  }
  if (!isRecord(header) || !isRecord(header["metadata"]) || !Array.isArray(header["sections"])) {
    throw unusableModelFile(path, "the header lacks metadata or sections");
  }
  if (header["endianness"] !== LITTLE_ENDIAN) throw unusableModelFile(path, `unsupported byte order ${String(header["endianness"])}`);
  return { metadata: header["metadata"], entries: header["sections"].map((entry) => parseEntry(path, entry)) };
}

/** A view when the section is 4-byte aligned in memory (the usual case), else a copy. */
function sectionArray(bytes: Uint8Array, start: number, entry: SectionEntry): SectionArray {
  const aligned = (bytes.byteOffset + start) % BYTES_PER_ELEMENT === 0;
  const source = aligned ? bytes : bytes.slice(start, start + entry.length * BYTES_PER_ELEMENT);
  const at = aligned ? bytes.byteOffset + start : 0;
  return entry.type === "float32" ? new Float32Array(source.buffer, at, entry.length) : new Int32Array(source.buffer, at, entry.length);
}

/** Checks structure, version and checksum; never trusts a length it has not bounded. */
export async function parseModelFile(bytes: Uint8Array, path: string): Promise<ModelFile> {
  requireLittleEndian(path);
  if (bytes.length < PREFIX_BYTES + SHA256_BYTES) throw unusableModelFile(path, `only ${bytes.length} bytes: the file is truncated or empty`);
  if (!MODEL_FILE_MAGIC.equals(bytes.subarray(0, MODEL_FILE_MAGIC.length))) throw unusableModelFile(path, "it does not start with the DDMODEL signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(VERSION_OFFSET, true);
  if (version !== MODEL_FILE_VERSION) {
    const why = version > MODEL_FILE_VERSION ? "it was written by a newer version of the package" : "it predates this package";
    throw new DefectError("modelFileVersion", `${path} has model file format ${version}; this package reads format ${MODEL_FILE_VERSION} (${why})`, {
      path,
      version,
      supported: MODEL_FILE_VERSION,
    });
  }
  const headerLength = view.getUint32(HEADER_LENGTH_OFFSET, true);
  const dataStart = alignUp(PREFIX_BYTES + headerLength);
  const dataEnd = bytes.length - SHA256_BYTES;
  if (headerLength > MAX_HEADER_BYTES || dataStart > dataEnd) throw unusableModelFile(path, "the file is truncated (header incomplete)");
  const { metadata, entries } = parseHeader(path, bytes, headerLength);
  let expectedEnd = dataStart;
  for (const entry of entries) {
    const end = dataStart + entry.offset + entry.length * BYTES_PER_ELEMENT;
    if (end > dataEnd) throw unusableModelFile(path, `the file is truncated (section "${entry.name}" ends at byte ${end}, the data at ${dataEnd})`);
    expectedEnd = Math.max(expectedEnd, dataStart + alignUp(entry.offset + entry.length * BYTES_PER_ELEMENT));
  }
  if (expectedEnd !== dataEnd) throw unusableModelFile(path, `the file has ${dataEnd - expectedEnd} unexpected bytes before its checksum`);
  const hash = createHash("sha256");
  await updateHash(hash, bytes.subarray(0, dataEnd));
  if (!hash.digest().equals(bytes.subarray(dataEnd))) throw unusableModelFile(path, "the checksum does not match: the file is damaged");
  // No prototype: a section named "__proto__" (or "constructor") is a section like any other.
  const sections: Record<string, SectionArray> = Object.create(null) as Record<string, SectionArray>;
  for (const entry of entries) {
    if (Object.hasOwn(sections, entry.name)) throw unusableModelFile(path, `section "${entry.name}" appears twice`);
    sections[entry.name] = sectionArray(bytes, dataStart + entry.offset, entry);
  }
  return { version, metadata, sections };
}

/** A missing file is `fileNotFound`, so callers can tell "nothing saved yet" from damage. */
export async function readModelFile(path: string): Promise<ModelFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") throw new DefectError("fileNotFound", `no model file at ${path}`, { path }, { cause: error });
    throw new DefectError(
      "fileReadFailed",
      `Could not read ${path}: ${describeError(error)}`,
      { path, reason: code ?? describeError(error) },
      { cause: error },
    );
  }
  return parseModelFile(bytes, path);
}

/** A named section of the expected type and length, or `modelFileInvalid`. */
export function requireSection<T extends SectionType>(
  file: ModelFile,
  path: string,
  name: string,
  type: T,
  length: number,
): T extends "float32" ? Float32Array : Int32Array {
  const array = Object.hasOwn(file.sections, name) ? file.sections[name] : undefined;
  if (array === undefined || typeOf(array) !== type || array.length !== length) {
    const found = array === undefined ? "none" : `${typeOf(array)}[${array.length}]`;
    throw unusableModelFile(path, `section "${name}" should be ${type}[${length}], found ${found}`);
  }
  return array as T extends "float32" ? Float32Array : Int32Array;
}
