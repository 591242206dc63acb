/**
 * The saved model and its previous versions, so any change made on the line (a confirmed part,
 * a refit, a reset) can be undone: `<id>.ddm` is the model in use, `<id>.v1.ddm` the one before
 * it, up to `<id>.v<keep>.ddm`, the oldest kept.
 *
 * Every step keeps a complete file at `<id>.ddm`: the current file is hard-linked (or copied
 * where links are not supported) to a temporary name and renamed over `.v1` before the new
 * content replaces it by an atomic write; a rollback renames `.v1` over the current file, so the
 * restored model is the previous file byte for byte.
 */
import { copyFile, link, rename, rm } from "node:fs/promises";
import { DefectError, describeError } from "../../errors";
import { deleteFile, tempPathFor } from "../../persist";
import { errnoCode } from "../../source/read-file";

export const DEFAULT_KEEP_VERSIONS = 5;
export const MAX_KEEP_VERSIONS = 100;
const MODEL_SUFFIX = /\.ddm$/;

/** `<id>.v<k>.ddm` beside `<id>.ddm`. */
export function versionPath(path: string, k: number): string {
  return MODEL_SUFFIX.test(path) ? path.replace(MODEL_SUFFIX, `.v${k}.ddm`) : `${path}.v${k}`;
}

/**
 * `<id>.incoming.ddm` beside `<id>.ddm`: a model made elsewhere (a model share) waits there until
 * the detector has loaded and checked it, so a file that fails is never the saved model.
 */
export function incomingPath(path: string): string {
  return MODEL_SUFFIX.test(path) ? path.replace(MODEL_SUFFIX, ".incoming.ddm") : `${path}.incoming`;
}

function failed(path: string, what: string, error: unknown): DefectError {
  const reason = errnoCode(error) ?? describeError(error);
  return new DefectError("fileWriteFailed", `Could not ${what} ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
}

/** Renames when `from` exists; resolves whether it did. */
async function moveIfPresent(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw failed(from, "move", error);
  }
}

export class ModelVersions {
  constructor(
    readonly path: string,
    /** Previous versions kept besides the current one (0 = none, rollback impossible). */
    readonly keep: number = DEFAULT_KEEP_VERSIONS,
  ) {}

  /** Paths of the kept previous versions, newest first (whether they exist or not). */
  get history(): string[] {
    return Array.from({ length: this.keep }, (_, i) => versionPath(this.path, i + 1));
  }

  /**
   * Writes a new current file with `write`, after moving the present one into the history.
   * `write` must replace the file (an atomic write: new file renamed over it), never rewrite it
   * in place: `.v1` is a hard link to the same content.
   */
  async commit(write: (path: string) => Promise<void>): Promise<void> {
    await this.pushCurrent();
    await write(this.path);
  }

  /** Makes the file at `from` (already complete, on the same file system) the current one, the present one kept as `.v1`. */
  async adopt(from: string): Promise<void> {
    await this.commit(async (path) => {
      await rename(from, path).catch((error: unknown) => {
        throw failed(from, "move", error);
      });
    });
  }

  /** Moves the current file into the history and removes it; resolves whether there was one. */
  async discard(): Promise<boolean> {
    await this.pushCurrent();
    return deleteFile(this.path);
  }

  /**
   * Makes the newest previous version the current one (the current file is dropped) and shifts
   * the older ones up; resolves false, changing nothing, when there is no previous version.
   */
  async rollback(): Promise<boolean> {
    const [newest, ...older] = this.history;
    if (newest === undefined || !(await moveIfPresent(newest, this.path))) return false;
    let to = newest;
    for (const from of older) {
      if (!(await moveIfPresent(from, to))) break;
      to = from;
    }
    return true;
  }

  /** Oldest dropped, each moved one down, the current file linked (not moved) into `.v1`. */
  private async pushCurrent(): Promise<void> {
    const history = this.history;
    if (history.length === 0) return;
    const oldest = history[history.length - 1] as string;
    await rm(oldest, { force: true }).catch((error: unknown) => {
      throw failed(oldest, "delete", error);
    });
    for (let k = history.length - 1; k >= 1; k--) await moveIfPresent(history[k - 1] as string, history[k] as string);
    const temp = tempPathFor(history[0] as string);
    try {
      await link(this.path, temp);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT") return;
      // File systems without hard links (FAT, some network shares): a copy is as good, only slower.
      try {
        await copyFile(this.path, temp);
      } catch (copyError) {
        if (errnoCode(copyError) === "ENOENT") return;
        throw failed(this.path, "keep a copy of", copyError);
      }
    }
    await rename(temp, history[0] as string).catch(async (error: unknown) => {
      await rm(temp, { force: true });
      throw failed(history[0] as string, "write", error);
    });
  }
}
