/**
 * ONNX `metadata_props` (Ultralytics' names, task, imgsz, stride...), which onnxruntime-node does not
 * expose. Only the top level of the ModelProto is walked and the graph field (the weights) is skipped
 * by its length, so a file is read a few bytes at a time instead of being loaded a second time
 * beside the session's copy.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { onnx } from "onnx-proto";
import { DefectError, describeError } from "../errors";

/** ModelProto.metadata_props field number (onnx.proto). */
const METADATA_FIELD = 14;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
const FIXED64_BYTES = 8;
const FIXED32_BYTES = 4;
const TYPE_BITS = 3;
const TYPE_MASK = 0x7;
const VARINT_PAYLOAD_MASK = 0x7f;
const VARINT_CONTINUE = 0x80;
const VARINT_STEP = 128;
/** A varint holds at most 10 bytes. */
const MAX_VARINT_BYTES = 10;
/** Bytes fetched for a field header (tag and length varints) in one read. */
const HEADER_BYTES = 2 * MAX_VARINT_BYTES;

/** Random access to the encoded model: a file read piecewise, or bytes already in memory. */
interface ByteSource {
  size: number;
  read(position: number, length: number): Promise<Uint8Array>;
}

function corrupt(where: string, problem: string): DefectError {
  return new DefectError("modelLoadFailed", `cannot read the metadata of ONNX model ${where}: ${problem}`, { path: where, reason: problem });
}

/** Reads one varint from `bytes` at `offset`; returns [value, bytes used]. */
function readVarint(bytes: Uint8Array, offset: number, where: string): [number, number] {
  let value = 0;
  let factor = 1;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) throw corrupt(where, "the file ends inside a field header");
    // Arithmetic instead of shifts: lengths of large models pass 2^31.
    value += (byte & VARINT_PAYLOAD_MASK) * factor;
    factor *= VARINT_STEP;
    if ((byte & VARINT_CONTINUE) === 0) return [value, i + 1];
  }
  throw corrupt(where, "a varint is longer than 10 bytes");
}

async function walkMetadata(source: ByteSource, where: string): Promise<Record<string, string>> {
  const metadata: Record<string, string> = {};
  let position = 0;
  while (position < source.size) {
    const header = await source.read(position, Math.min(HEADER_BYTES, source.size - position));
    const [tag, tagBytes] = readVarint(header, 0, where);
    const field = Math.floor(tag / (1 << TYPE_BITS));
    const wire = tag & TYPE_MASK;
    let next = position + tagBytes;
    if (wire === WIRE_VARINT) {
      next += readVarint(header, tagBytes, where)[1];
    } else if (wire === WIRE_FIXED64) {
      next += FIXED64_BYTES;
    } else if (wire === WIRE_FIXED32) {
      next += FIXED32_BYTES;
    } else if (wire === WIRE_LENGTH_DELIMITED) {
      const [length, lengthBytes] = readVarint(header, tagBytes, where);
      const start = next + lengthBytes;
      next = start + length;
      if (next > source.size) throw corrupt(where, `field ${field} runs past the end of the file`);
      if (field === METADATA_FIELD) {
        const bytes = await source.read(start, length);
        let entry: onnx.StringStringEntryProto;
        try {
          entry = onnx.StringStringEntryProto.decode(bytes);
        } catch (error) {
          throw corrupt(where, `a metadata entry does not decode: ${describeError(error)}`);
        }
        metadata[entry.key] = entry.value;
      }
    } else {
      throw corrupt(where, `unexpected wire type ${wire} at byte ${position}; is this an ONNX file?`);
    }
    position = next;
  }
  return metadata;
}

/** metadata_props of encoded model bytes. */
export async function parseOnnxMetadata(bytes: Uint8Array, where = "in memory"): Promise<Record<string, string>> {
  return walkMetadata({ size: bytes.length, read: async (p, n) => bytes.subarray(p, p + n) }, where);
}

/** metadata_props of an .onnx file, read without loading its weights. */
export async function readOnnxMetadata(file: string): Promise<Record<string, string>> {
  const absolute = path.resolve(file);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(absolute, "r");
  } catch (error) {
    throw new DefectError("modelNotFound", `model file not found: ${absolute}`, { path: absolute }, { cause: error });
  }
  try {
    const size = (await handle.stat()).size;
    return await walkMetadata(
      {
        size,
        async read(position, length) {
          const buffer = new Uint8Array(length);
          const { bytesRead } = await handle.read(buffer, 0, length, position);
          return buffer.subarray(0, bytesRead);
        },
      },
      absolute,
    );
  } catch (error) {
    if (error instanceof DefectError) throw error;
    throw corrupt(absolute, describeError(error));
  } finally {
    await handle.close();
  }
}
