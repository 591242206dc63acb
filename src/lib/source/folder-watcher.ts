/** Listing and watching a folder for image files that are completely written. */
import { watch } from "chokidar";
import type { Stats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { DefectError, describeError } from "../errors";
import type { FileNameMatcher } from "./file-pattern";
import { errnoCode } from "./read-file";

/**
 * How long a new file's size must stay unchanged before it counts as written. Cameras and
 * network shares write in bursts; half a second is long enough for those bursts, short enough
 * to keep the line fast.
 */
export const DEFAULT_STABLE_MS = 500;
/** How often a growing file's size is checked while waiting for it to settle. */
const MAX_POLL_INTERVAL_MS = 100;
const POLLS_PER_STABLE_PERIOD = 5;

export interface FolderWatchOptions {
  match: FileNameMatcher;
  /** Also report files that are already in the folder when watching starts. */
  emitExisting: boolean;
  stableMs: number;
  /** Absolute path of a new, completely written file. Called once a file. */
  onFile: (path: string) => void;
  onError: (error: DefectError) => void;
}

export interface FolderWatch {
  /** Stops watching; no onFile call happens once the promise resolves. */
  close(): Promise<void>;
}

async function requireFolder(folder: string): Promise<void> {
  let stats: Stats;
  try {
    stats = await stat(folder);
  } catch (error) {
    const code = errnoCode(error) ?? describeError(error);
    throw new DefectError("folderNotFound", `Image folder not found: ${folder} (${code})`, { path: folder, reason: code }, { cause: error });
  }
  if (!stats.isDirectory()) {
    throw new DefectError("folderNotFound", `${folder} is not a folder`, { path: folder, reason: "ENOTDIR" });
  }
}

/** Matching regular files directly in `folder`, as absolute paths sorted by file name. */
export async function listFolderFiles(folder: string, match: FileNameMatcher): Promise<string[]> {
  const root = resolve(folder);
  await requireFolder(root);
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && match(entry.name))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => join(root, name));
}

/**
 * Starts watching `folder` (not its subfolders) and resolves once the initial scan is done, so
 * a file written after that is sure to be seen.
 */
export async function watchFolder(folder: string, options: FolderWatchOptions): Promise<FolderWatch> {
  const root = resolve(folder);
  await requireFolder(root);
  let closed = false;
  const watcher = watch(root, {
    depth: 0,
    ignoreInitial: !options.emitExisting,
    awaitWriteFinish: {
      stabilityThreshold: options.stableMs,
      pollInterval: Math.min(MAX_POLL_INTERVAL_MS, Math.max(1, Math.round(options.stableMs / POLLS_PER_STABLE_PERIOD))),
    },
    ignored: (path: string, stats?: Stats) => {
      if (resolve(path) === root) return false;
      if (stats?.isDirectory() === true) return true;
      return !options.match(basename(path));
    },
  });
  watcher.on("add", (path: string) => {
    if (!closed) options.onFile(resolve(root, path));
  });
  watcher.on("error", (error: unknown) => {
    if (closed) return;
    const reason = errnoCode(error) ?? describeError(error);
    options.onError(new DefectError("watchFailed", `Watching ${root} failed: ${reason}`, { path: root, reason }, { cause: error }));
  });
  await new Promise<void>((resolveReady) => watcher.once("ready", () => resolveReady()));
  return {
    close: async () => {
      closed = true;
      await watcher.close();
    },
  };
}
