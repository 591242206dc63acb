/**
 * Keeping a path inside a folder: a path taken from a message, or a file found in a watched
 * folder, may only name something inside the folder it was meant for. `..` segments, absolute
 * paths elsewhere and symbolic links that lead out are refused with pathOutsideFolder.
 */
import { readlink, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { DefectError, describeError } from "../errors";
import { errnoCode } from "./read-file";

/** True when `path` is `folder` itself or below it (both absolute and normalised). */
export function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

async function realFolder(folder: string): Promise<string> {
  try {
    return await realpath(folder);
  } catch (error) {
    const reason = errnoCode(error) ?? describeError(error);
    throw new DefectError("folderNotFound", `Image folder not found: ${folder} (${reason})`, { path: folder, reason }, { cause: error });
  }
}

function outside(requested: string, root: string, reason: string): DefectError {
  // The error names neither where a link leads nor anything else outside the folder: the path
  // may come from a message, and its sender learns only that it is refused.
  return new DefectError("pathOutsideFolder", `${requested} is outside the allowed folder ${root}: ${reason}`, { path: requested, folder: root, reason });
}

/**
 * `requested` resolved against `folder` (relative) or as given (absolute), refused unless it
 * stays inside `folder`, first as written, then with every symbolic link followed. A path that
 * cannot be resolved is refused too, never passed on to be read: fileNotFound, or
 * pathOutsideFolder when it is a dangling link that points out (its target could appear between
 * this check and the read). The returned path is the one to read; a link swapped between this
 * check and the read is not caught (the folder's owner controls what is in it).
 */
export async function confinePath(folder: string, requested: string): Promise<string> {
  const root = resolve(folder);
  const target = resolve(root, requested);
  if (!isInside(root, target)) throw outside(requested, root, "the path leads out of it");
  const realRoot = await realFolder(root);
  let realTarget: string;
  try {
    realTarget = await realpath(target);
  } catch (error) {
    throw await unresolved(requested, root, realRoot, target, error);
  }
  if (!isInside(realRoot, realTarget)) throw outside(requested, root, "a symbolic link leads out of it");
  return target;
}

/** Why `target` cannot be resolved: a dangling link that points out, else a missing file. */
async function unresolved(requested: string, root: string, realRoot: string, target: string, error: unknown): Promise<DefectError> {
  let link: string | undefined;
  try {
    link = await readlink(target);
  } catch {
    // Not a link (or a folder on the way is missing): nothing there to follow.
  }
  if (link !== undefined) {
    const pointsTo = resolve(dirname(target), link);
    if (!isInside(root, pointsTo) && !isInside(realRoot, pointsTo)) return outside(requested, root, "a symbolic link leads out of it");
  }
  return new DefectError("fileNotFound", `Image file not found: ${target}`, { path: target }, { cause: error });
}
