/** Removing a saved model on request. */
import { rm } from "node:fs/promises";
import { DefectError, describeError } from "../errors";
import { errnoCode } from "../source/read-file";

/** Deletes `path`; resolves to false when there was nothing to delete. */
export async function deleteFile(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (error) {
    const reason = errnoCode(error) ?? describeError(error);
    if (reason === "ENOENT") return false;
    throw new DefectError("fileWriteFailed", `Could not delete ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
  }
}
