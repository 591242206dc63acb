/**
 * Result ids of one station: 1, 2, 3..., never given out twice, also across restarts, redeploys
 * and crashes. The counter lives in a small file under the user directory, but is not written
 * once a result: the file holds the first id not yet reserved, and ids are reserved a block at a
 * time (an atomic write each), the next block while half of the current one is still unused. An
 * id is given out only once the write that reserves it has ended, so after any restart the
 * station starts above every id it gave out; what a restart loses is what was reserved and not
 * used (a gap of at most one and a half RESULT_ID_BLOCKs), never uniqueness or order.
 *
 * A reservation that cannot be written (a full disk, a read-only folder) does not stop the line:
 * numbering goes on in memory, and the failure comes with the next id given out, so the node
 * reports it (as the threshold node reports a calibration it could not save). Only then could a
 * restart repeat ids. A damaged file is different: no number is safe to start from, so nothing is
 * given out until it is repaired or deleted.
 *
 * Why not time-derived ids: a wall clock steps back (NTP, a replaced battery), and ids made from
 * milliseconds do not fit the 32-bit integers PLCs read.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DefectError, describeError, isDefectError } from "../errors";
import { isRecord } from "../message";
import { writeFileAtomic } from "../persist";
import { errnoCode } from "../source/read-file";

export const RESULT_IDS_FORMAT = "defect-result-ids";
export const RESULT_IDS_VERSION = 1;
export const RESULT_IDS_FOLDER = "defect-detection";
export const RESULT_IDS_EXTENSION = ".results.json";
/** Ids reserved by one write: at 30 parts a second one write every 3 s, and a restart skips at most 1.5 times this many. */
export const RESULT_ID_BLOCK = 100;

/** The file of a station (a threshold node): beside its calibration, named after its node id. */
export function resultIdsPath(baseDir: string, station: string): string {
  const safe = station.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return join(baseDir, RESULT_IDS_FOLDER, `${safe}${RESULT_IDS_EXTENSION}`);
}

/** A counter file no number is safe to start from. */
function damaged(path: string, reason: string, cause?: unknown): DefectError {
  const message = `${path}: ${reason}; no result id is given out until it is repaired, or deleted (ids then start at 1 again)`;
  return new DefectError("resultIdsFailed", message, { path, reason }, cause === undefined ? undefined : { cause });
}

/** The first id not reserved yet, as saved; 1 when there is no file (or no folder it could be in). */
async function readNext(path: string): Promise<number> {
  let content: string;
  try {
    content = await readFile(path, "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return 1;
    throw damaged(path, `the file cannot be read (${errnoCode(error) ?? describeError(error)})`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (error) {
    throw damaged(path, `the file is not JSON (${describeError(error)})`, error);
  }
  if (!isRecord(json) || json["format"] !== RESULT_IDS_FORMAT) throw damaged(path, `the file is not a ${RESULT_IDS_FORMAT} file`);
  if (json["version"] !== RESULT_IDS_VERSION)
    throw damaged(path, `the file has version ${JSON.stringify(json["version"])}, this package reads ${RESULT_IDS_VERSION}`);
  const next = json["next"];
  if (typeof next !== "number" || !Number.isSafeInteger(next) || next < 1)
    throw damaged(path, `its next id ${JSON.stringify(next)} is not a whole number of 1 or more`);
  return next;
}

/** An id, and the failure to save a reservation when one happened since the last id given out. */
export interface ResultIdGrant {
  id: number;
  unsaved?: DefectError;
}

export class ResultIds {
  /** The id given out next. */
  private current: number;
  /** Ids below this are reserved on disk. */
  private reserved: number;
  /** The write reserving the next block, while one runs. */
  private reserving: Promise<void> | undefined;
  /** Calls in order, so ids are given out in the order asked for even while a write runs. */
  private queue: Promise<unknown> = Promise.resolve();
  /** A reservation that could not be written, not reported yet. */
  private failure: DefectError | undefined;

  private constructor(
    readonly path: string,
    start: number,
    private readonly block: number,
  ) {
    this.current = start;
    this.reserved = start;
  }

  /** The station's counter; resultIdsFailed when its file is damaged (nothing is given out then). */
  static async open(path: string, block = RESULT_ID_BLOCK): Promise<ResultIds> {
    return new ResultIds(path, await readNext(path), block);
  }

  /** The next id; waits only when the reserved block is used up before the next one is written. */
  next(): Promise<ResultIdGrant> {
    const run = this.queue.then(() => this.take());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no write is running (before a redeploy reads the file again). */
  async close(): Promise<void> {
    await this.queue;
    await this.reserving?.catch(() => undefined);
  }

  private async take(): Promise<ResultIdGrant> {
    if (this.current >= this.reserved) await this.reserve();
    const id = this.current;
    this.current += 1;
    // Half a block left: the next one is reserved meanwhile, so the line never waits for the disk.
    if (this.reserved - this.current <= this.block / 2) void this.reserve();
    const unsaved = this.failure;
    this.failure = undefined;
    return unsaved === undefined ? { id } : { id, unsaved };
  }

  /** Reserves one block beyond what is reserved; a reservation already running is the one waited for. */
  private reserve(): Promise<void> {
    this.reserving ??= this.write(this.reserved + this.block).finally(() => {
      this.reserving = undefined;
    });
    return this.reserving;
  }

  /** Never rejects: a failed write is kept in `failure` and the block is used anyway. */
  private async write(next: number): Promise<void> {
    const text = `${JSON.stringify({ format: RESULT_IDS_FORMAT, version: RESULT_IDS_VERSION, next })}\n`;
    try {
      await writeFileAtomic(this.path, [Buffer.from(text, "utf8")]);
    } catch (error) {
      const reason = isDefectError(error) ? String(error.details["reason"] ?? error.message) : describeError(error);
      const message = `the next result ids could not be saved to ${this.path} (${reason}): they are given out anyway, and a restart may give them out again`;
      this.failure = new DefectError("resultIdsFailed", message, { path: this.path, reason }, { cause: error });
    }
    this.reserved = Math.max(this.reserved, next);
  }
}
