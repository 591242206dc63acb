/**
 * Writing a file so that readers only ever see the old content or the complete new content:
 * the bytes go to a temporary file in the same folder (rename is atomic only within one file
 * system), are flushed to disk, and the temporary file is then renamed over the target. A crash
 * or a failed write leaves the previous file as it was.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DefectError, describeError } from "../errors";
import { errnoCode } from "../source/read-file";

/** Random part of temporary names, so two writers of one target never share a temp file. */
const TEMP_ID_BYTES = 6;
export const TEMP_SUFFIX = ".tmp";

export type ByteChunks = Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Hidden, and named after the target so a leftover from a crash is recognisable. */
export function tempPathFor(path: string): string {
  const id = randomBytes(TEMP_ID_BYTES).toString("hex");
  return join(dirname(path), `.${basename(path)}.${process.pid}.${id}${TEMP_SUFFIX}`);
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * The rename itself is only durable once the folder entry is flushed. Some platforms (Windows)
 * cannot open a folder for syncing; the file content is already safe there, so that is ignored.
 */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // Best effort, see above.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Writes `chunks` to `path` atomically, creating the folder if needed. */
export async function writeFileAtomic(path: string, chunks: ByteChunks): Promise<void> {
  const folder = dirname(path);
  const temp = tempPathFor(path);
  let handle: FileHandle | undefined;
  try {
    await mkdir(folder, { recursive: true });
    handle = await open(temp, "wx");
    for await (const chunk of chunks) await writeAll(handle, chunk);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    if (error instanceof DefectError) throw error;
    const reason = errnoCode(error) ?? describeError(error);
    throw new DefectError("fileWriteFailed", `Could not write ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
  }
  await syncFolder(folder);
}
