/**
 * Writing a file so that readers only ever see the old content or the complete new content:
 * the bytes go to a temporary file in the same folder (rename is atomic only within one file
 * system), are flushed to disk, and the temporary file is then renamed over the target. A crash
 * or a failed write leaves the previous file as it was. A temporary file left by a writer that
 * was killed is removed by the next write of the same target, so crashes do not pile up copies
 * of a 250 MB memory bank.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
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

/** Temporary files of writes running in this process now: any other one with our pid is a leftover. */
const writing = new Set<string>();
const TEMP_MIDDLE = new RegExp(`^(\\d+)\\.[0-9a-f]{${TEMP_ID_BYTES * 2}}$`);

/** Signal 0 only checks that the process exists; EPERM means it does, under another user. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === "EPERM";
  }
}

/**
 * The writer of `name`'s temporary file is gone: another pid that no longer runs, or our own pid
 * (a restarted process can get its predecessor's pid) on a file this process is not writing. A
 * writer still alive, e.g. a second Node-RED on the same folder, keeps its file.
 */
function isLeftover(folder: string, target: string, name: string): boolean {
  const prefix = `.${target}.`;
  if (!name.startsWith(prefix) || !name.endsWith(TEMP_SUFFIX)) return false;
  const pid = TEMP_MIDDLE.exec(name.slice(prefix.length, -TEMP_SUFFIX.length))?.[1];
  if (pid === undefined) return false;
  return writerGone(folder, name, Number(pid));
}

function writerGone(folder: string, name: string, owner: number): boolean {
  return owner === process.pid ? !writing.has(join(folder, name)) : !processAlive(owner);
}

const ANY_TEMP = new RegExp(`^\\..+\\.(\\d+)\\.[0-9a-f]{${TEMP_ID_BYTES * 2}}\\${TEMP_SUFFIX}$`);

/**
 * Whether `name` in `folder` is the temporary file of a write, of any target, whose writer is
 * gone: for a folder of many targets (an archive) cleaned once at start rather than per target.
 */
export function isStaleTempFile(folder: string, name: string): boolean {
  const pid = ANY_TEMP.exec(name)?.[1];
  return pid !== undefined && writerGone(folder, name, Number(pid));
}

/** Best effort: a leftover that cannot be removed now is tried again at the next write. */
async function removeLeftovers(path: string): Promise<void> {
  const folder = dirname(path);
  const target = basename(path);
  const names = await readdir(folder).catch(() => []);
  for (const name of names) {
    if (isLeftover(folder, target, name)) await rm(join(folder, name), { force: true }).catch(() => undefined);
  }
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
  writing.add(temp);
  try {
    await mkdir(folder, { recursive: true });
    await removeLeftovers(path);
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
  } finally {
    writing.delete(temp);
  }
  await syncFolder(folder);
}
