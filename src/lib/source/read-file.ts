/** Reading one image file from disk, with errors that name the path. */
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { DefectError, describeError } from "../errors";

/**
 * Relative paths are taken from `baseDir` (Node-RED's user directory) rather than the process
 * working directory, which depends on how Node-RED happened to be started.
 */
export function resolveSourcePath(path: string, baseDir: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/** Error codes Node.js uses for "nothing there", as opposed to "there but unreadable". */
const MISSING_CODES = new Set(["ENOENT", "ENOTDIR"]);

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const { code } = error;
  return typeof code === "string" ? code : undefined;
}

function fileTooLarge(path: string, maxBytes: number, size: number): DefectError {
  return new DefectError("fileTooLarge", `Image file ${path} is larger than the limit of ${maxBytes} bytes (${size} bytes)`, { path, maxBytes, size });
}

/** Bytes read at a time: the cap is checked between reads. */
const READ_CHUNK = 1 << 20;
/**
 * Opening without blocking: a FIFO in a watched folder would otherwise hold a libuv thread until
 * some writer opens it (reads of regular files are unaffected). Windows has no such flag.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Reads to the end, refusing as soon as more than `maxBytes` arrived (a file still growing). */
async function readCapped(file: FileHandle, path: string, maxBytes: number, sizeHint: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.max(1, Math.min(READ_CHUNK, sizeHint - total + 1)));
    const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > maxBytes) throw fileTooLarge(path, maxBytes, total);
    chunks.push(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead));
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
}

/**
 * Reads the whole file; the bytes are returned untouched (no decoding). Only regular files are
 * read: a device (/dev/zero, /dev/urandom), a FIFO, a socket or a directory is refused, because
 * their size says nothing (0 for /dev/zero, which would be read until memory ran out). A file
 * above `maxBytes` is refused from its size, before it is read, and the cap is enforced while
 * reading, so a wrong file cannot fill memory.
 */
export async function readImageFile(path: string, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer> {
  let file: FileHandle | undefined;
  try {
    file = await open(path, OPEN_FLAGS);
    const stats = await file.stat();
    if (!stats.isFile()) {
      throw new DefectError("fileReadFailed", `Could not read image file ${path}: it is not a regular file (a directory, device, FIFO or socket)`, {
        path,
        reason: "not a regular file",
      });
    }
    if (stats.size > maxBytes) throw fileTooLarge(path, maxBytes, stats.size);
    return await readCapped(file, path, maxBytes, stats.size);
  } catch (error) {
    if (error instanceof DefectError) throw error;
    const code = errnoCode(error);
    if (code !== undefined && MISSING_CODES.has(code)) {
      throw new DefectError("fileNotFound", `Image file not found: ${path}`, { path }, { cause: error });
    }
    const reason = code ?? describeError(error);
    throw new DefectError("fileReadFailed", `Could not read image file ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
  } finally {
    await file?.close();
  }
}
