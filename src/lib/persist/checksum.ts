/**
 * SHA-256 over large buffers and files without holding the event loop: hashing a 250 MB memory
 * bank in one call would stall every other flow for about half a second, so buffers are fed in
 * slices with a turn of the event loop between them.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { DefectError, describeError } from "../errors";
import { errnoCode } from "../source/read-file";

/** About 5-10 ms of hashing on current CPUs. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;
export const SHA256_BYTES = 32;

/** Feeds `bytes` to `hash`, yielding to the event loop between slices. */
export async function updateHash(hash: Hash, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += HASH_SLICE_BYTES) {
    if (offset > 0) await nextTurn();
    hash.update(bytes.subarray(offset, Math.min(bytes.length, offset + HASH_SLICE_BYTES)));
  }
}

/** What identifies a file's content: a renamed copy is the same file, an edited one is not. */
export interface FileIdentity {
  /** File name without folder (for messages; not compared). */
  name: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
}

const MISSING_CODES = new Set(["ENOENT", "ENOTDIR"]);

/** Streams the file through SHA-256; a missing file is `modelNotFound` (it is a model's file). */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DefectError("modelNotFound", `model path is not a file: ${path}`, { path });
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return { name: basename(path), size: info.size, sha256: hash.digest("hex") };
  } catch (error) {
    if (error instanceof DefectError) throw error;
    const code = errnoCode(error);
    if (code !== undefined && MISSING_CODES.has(code)) {
      throw new DefectError("modelNotFound", `model file not found: ${path}`, { path }, { cause: error });
    }
    throw new DefectError(
      "fileReadFailed",
      `Could not read ${path}: ${describeError(error)}`,
      { path, reason: code ?? describeError(error) },
      { cause: error },
    );
  }
}
