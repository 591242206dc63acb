/** Where calibrations live and how they are written, read and deleted. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DefectError, describeError } from "../errors";
import { deleteFile, writeFileAtomic } from "../persist";
import { errnoCode } from "../source/read-file";
import { parseCalibrationRecord, serialiseCalibration, type CalibrationRecord } from "./record";

/** The same folder as the detector's learned models, so one place holds what a flow learned. */
export const CALIBRATION_FOLDER = "defect-detection";
export const CALIBRATION_EXTENSION = ".threshold.json";

/** One file per node id under the user directory; the id is made safe for a file name. */
export function calibrationFilePath(baseDir: string, nodeId: string): string {
  // Node ids are hex (older flows: "abc.def"); anything else must not reach the path.
  const safe = nodeId.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return join(baseDir, CALIBRATION_FOLDER, `${safe}${CALIBRATION_EXTENSION}`);
}

/** Atomic: a reader (or a crash) sees the old calibration or the new one, never half. */
export async function saveCalibration(path: string, record: CalibrationRecord): Promise<void> {
  await writeFileAtomic(path, [Buffer.from(serialiseCalibration(record), "utf8")]);
}

/** The saved calibration, or undefined when there is none; damage is an error naming the file. */
export async function loadCalibration(path: string): Promise<CalibrationRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return undefined;
    throw new DefectError(
      "fileReadFailed",
      `Could not read ${path}: ${describeError(error)}`,
      { path, reason: code ?? describeError(error) },
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const reason = `it is not JSON (${describeError(error)})`;
    throw new DefectError("modelFileInvalid", `${path} is not a usable calibration file: ${reason}`, { path, reason }, { cause: error });
  }
  return parseCalibrationRecord(json, path);
}

/** Resolves to false when there was nothing to delete. */
export function deleteCalibration(path: string): Promise<boolean> {
  return deleteFile(path);
}
