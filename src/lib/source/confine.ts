/**
 * Keeping a path inside a folder: a path taken from a message, or a file found in a watched
 * folder, may only name something inside the folder it was meant for. `..` segments, absolute
 * paths elsewhere and symbolic links that lead out are refused with pathOutsideFolder.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
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

/**
 * `requested` resolved against `folder` (relative) or as given (absolute), refused unless it
 * stays inside `folder`, first as written, then with every symbolic link followed. A path that
 * does not exist passes (reading it then reports fileNotFound). The returned path is the one
 * to read; a link swapped between this check and the read is not caught (the folder's owner
 * controls what is in it).
 */
export async function confinePath(folder: string, requested: string): Promise<string> {
  const root = resolve(folder);
  const target = resolve(root, requested);
  if (!isInside(root, target)) {
    throw new DefectError("pathOutsideFolder", `${requested} is outside the allowed folder ${root}`, {
      path: requested,
      folder: root,
      reason: "the path leads out of it",
    });
  }
  const realRoot = await realFolder(root);
  let realTarget: string;
  try {
    realTarget = await realpath(target);
  } catch {
    return target;
  }
  if (!isInside(realRoot, realTarget)) {
    throw new DefectError("pathOutsideFolder", `${requested} is outside the allowed folder ${root}: a symbolic link leads to ${realTarget}`, {
      path: requested,
      folder: root,
      reason: "a symbolic link leads out of it",
    });
  }
  return target;
}
