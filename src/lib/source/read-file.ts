/** Reading one image file from disk, with errors that name the path. */
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

/**
 * Reads the whole file; the bytes are returned untouched (no decoding). A file above `maxBytes`
 * is refused from its size, before it is read, so a wrong file cannot fill memory.
 */
export async function readImageFile(path: string, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer> {
  let file: FileHandle | undefined;
  try {
    file = await open(path, "r");
    const { size } = await file.stat();
    if (size > maxBytes) throw fileTooLarge(path, maxBytes, size);
    const bytes = await file.readFile();
    // The file may have grown since stat (a writer still at work).
    if (bytes.length > maxBytes) throw fileTooLarge(path, maxBytes, bytes.length);
    return bytes;
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
