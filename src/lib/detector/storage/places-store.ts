/**
 * Place weights (place-weights.ts) inside a bank file: the weights as the "places" section and a
 * record of its own version in the online metadata. A file without the record (saved before place
 * weights existed, fitted with them off, or merged) scores every place alike.
 */
import { requireSection, type ModelFile, type SectionArray, unusableModelFile } from "../../persist";

/** Version of the places record; a reader refuses any other. */
export const PLACES_RECORD_VERSION = 1;

/** The record (metadata, returned) and its section (added to `sections`). */
export function writePlacesRecord(places: Float32Array, sections: Record<string, SectionArray>): Record<string, unknown> {
  sections["places"] = places;
  return { version: PLACES_RECORD_VERSION, count: places.length };
}

export function readPlacesRecord(file: ModelFile, path: string, record: unknown): Float32Array | null {
  if (record === undefined) return null;
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the places record is not an object");
  const r = record as Record<string, unknown>;
  if (r["version"] !== PLACES_RECORD_VERSION) {
    throw unusableModelFile(path, `places record version ${JSON.stringify(r["version"])}; this version of the package reads ${PLACES_RECORD_VERSION}`);
  }
  const count = r["count"];
  if (!Number.isSafeInteger(count) || (count as number) < 1) throw unusableModelFile(path, "bad place weight count");
  const places = requireSection(file, path, "places", "float32", count as number);
  // Weights only ever lower a distance (place-weights.ts): anything else is not a file this package wrote.
  if (!places.every((w) => w > 0 && w <= 1)) throw unusableModelFile(path, "place weights outside (0, 1]");
  return places;
}
