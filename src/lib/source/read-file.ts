/** Reading one image file from disk, with errors that name the path. */
import { readFile } from "node:fs/promises";
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

/** Reads the whole file; the bytes are returned untouched (no decoding). */
export async function readImageFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== undefined && MISSING_CODES.has(code)) {
      throw new DefectError("fileNotFound", `Image file not found: ${path}`, { path }, { cause: error });
    }
    const reason = code ?? describeError(error);
    throw new DefectError("fileReadFailed", `Could not read image file ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
  }
}
