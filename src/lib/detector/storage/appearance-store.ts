/**
 * The appearance model (appearance.ts) inside a bank file: its vectors as the "appearance" section
 * and a record of its own version in the online metadata. A file without the record (saved before
 * the appearance model existed, or by a fit of too few images) scores without the appearance term.
 * Version 2 adds the look-alikes' levels (lookalikes.ts) as the "appearanceLevels" section; a model
 * without them is written as version 1, which packages from before look-alikes read as well.
 */
import type { Appearance } from "../../anomaly/patchcore/appearance";
import { MAX_LOOKALIKES, type Lookalikes } from "../../anomaly/patchcore/lookalikes";
import { requireSection, type ModelFile, type SectionArray, unusableModelFile } from "../../persist";

/** Version of the appearance record with look-alikes; a reader refuses versions it does not know. */
export const APPEARANCE_RECORD_VERSION = 2;
/** The version of a record without look-alikes. */
const PLAIN_RECORD_VERSION = 1;

/** The record (metadata, returned) and its sections (added to `sections`). */
export function writeAppearanceRecord(appearance: Appearance, sections: Record<string, SectionArray>): Record<string, unknown> {
  const { vectors, count, dim, fitted, mean, deviation, patchDeviation, lookalikes } = appearance;
  sections["appearance"] = vectors.subarray(0, count * dim);
  // Float64 in JSON: exact.
  const record = { count, fitted, mean, deviation, patchDeviation };
  if (lookalikes === undefined) return { version: PLAIN_RECORD_VERSION, ...record };
  sections["appearanceLevels"] = lookalikes.levels;
  return { version: APPEARANCE_RECORD_VERSION, ...record, lookalikes: { k: lookalikes.k, strength: lookalikes.strength, mean: lookalikes.mean } };
}

const positive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

function readLookalikes(file: ModelFile, path: string, record: unknown, fitted: number): Lookalikes {
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the look-alikes record is not an object");
  const { k, strength, mean } = record as Record<string, unknown>;
  if (!Number.isSafeInteger(k) || (k as number) < 1 || (k as number) > MAX_LOOKALIKES || (k as number) >= fitted) {
    throw unusableModelFile(path, "bad look-alike count");
  }
  if (!positive(strength) || typeof mean !== "number" || !Number.isFinite(mean)) throw unusableModelFile(path, "bad look-alike scale");
  const levels = requireSection(file, path, "appearanceLevels", "float32", fitted);
  return { k: k as number, strength, levels, mean };
}

export function readAppearanceRecord(file: ModelFile, path: string, record: unknown, dim: number): Appearance | null {
  if (record === undefined) return null;
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the appearance record is not an object");
  const r = record as Record<string, unknown>;
  if (r["version"] !== APPEARANCE_RECORD_VERSION && r["version"] !== PLAIN_RECORD_VERSION) {
    throw unusableModelFile(
      path,
      `appearance record version ${JSON.stringify(r["version"])}; this version of the package reads up to ${APPEARANCE_RECORD_VERSION}`,
    );
  }
  const { count, fitted, mean, deviation, patchDeviation } = r;
  if (!Number.isSafeInteger(count) || !Number.isSafeInteger(fitted) || (fitted as number) < 1 || (count as number) < (fitted as number)) {
    throw unusableModelFile(path, "bad appearance vector counts");
  }
  if (typeof mean !== "number" || !Number.isFinite(mean) || !positive(deviation) || !positive(patchDeviation)) {
    throw unusableModelFile(path, "bad appearance scale");
  }
  const vectors = requireSection(file, path, "appearance", "float32", (count as number) * dim);
  const appearance: Appearance = { vectors, count: count as number, dim, fitted: fitted as number, mean, deviation, patchDeviation };
  if (r["version"] === APPEARANCE_RECORD_VERSION && r["lookalikes"] !== undefined) {
    appearance.lookalikes = readLookalikes(file, path, r["lookalikes"], fitted as number);
  }
  return appearance;
}
