/**
 * The appearance model (appearance.ts) inside a bank file: its vectors as the "appearance" section
 * and a record of its own version in the online metadata. A file without the record (saved before
 * the appearance model existed, or by a fit of too few images) scores without the appearance term.
 */
import type { Appearance } from "../../anomaly/patchcore/appearance";
import { requireSection, type ModelFile, type SectionArray, unusableModelFile } from "../../persist";

/** Version of the appearance record; a reader refuses any other. */
export const APPEARANCE_RECORD_VERSION = 1;

/** The record (metadata, returned) and its section (added to `sections`). */
export function writeAppearanceRecord(appearance: Appearance, sections: Record<string, SectionArray>): Record<string, unknown> {
  const { vectors, count, dim, fitted, mean, deviation, patchDeviation } = appearance;
  sections["appearance"] = vectors.subarray(0, count * dim);
  // Float64 in JSON: exact.
  return { version: APPEARANCE_RECORD_VERSION, count, fitted, mean, deviation, patchDeviation };
}

const positive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

export function readAppearanceRecord(file: ModelFile, path: string, record: unknown, dim: number): Appearance | null {
  if (record === undefined) return null;
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the appearance record is not an object");
  const r = record as Record<string, unknown>;
  if (r["version"] !== APPEARANCE_RECORD_VERSION) {
    throw unusableModelFile(path, `appearance record version ${JSON.stringify(r["version"])}; this version of the package reads ${APPEARANCE_RECORD_VERSION}`);
  }
  const { count, fitted, mean, deviation, patchDeviation } = r;
  if (!Number.isSafeInteger(count) || !Number.isSafeInteger(fitted) || (fitted as number) < 1 || (count as number) < (fitted as number)) {
    throw unusableModelFile(path, "bad appearance vector counts");
  }
  if (typeof mean !== "number" || !Number.isFinite(mean) || !positive(deviation) || !positive(patchDeviation)) {
    throw unusableModelFile(path, "bad appearance scale");
  }
  const vectors = requireSection(file, path, "appearance", "float32", (count as number) * dim);
  return { vectors, count: count as number, dim, fitted: fitted as number, mean, deviation, patchDeviation };
}
