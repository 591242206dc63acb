/**
 * Where the archive puts a part, in the MVTec AD layout that `defect-detection eval` and the
 * detector's training folder read:
 *
 *   <folder>/train/good/<name>.<ext>            OK parts (sampled) and parts confirmed good
 *   <folder>/test/<label>/<name>.<ext>          NG (ng), UNCERTAIN (uncertain), confirmed defect (defect)
 *   <folder>/ground_truth/defect/<name>_mask.png  the region of a defect confirmed with boxes or a mask
 *   <folder>/records/<split>/<label>/<name>.json  the result record (sidecar)
 *   <folder>/records/<split>/<label>/<name>_overlay.jpg|png  the overlay, when the part had one
 *
 * Sidecars live under records/ because the readers take every image file of train/good and
 * test/<type> (an overlay there would be read as one more part) and never look into records/.
 * Temporary files are hidden `.tmp` names, which no reader lists.
 *
 * A name is `<UTC time, ms>_<result id or 0>_<part id or ->`, e.g. `20261206-141503-027_4711_P-88`
 * (`.2`, `.3` appended when taken): sorted by name, entries are in archiving order, the time an
 * entry was archived survives copies and restarts (unlike file times), and a confirmation can
 * find a part by its id after a restart.
 */
import { join } from "node:path";

export type Split = "train" | "test";

export interface Place {
  split: Split;
  /** Folder under the split: "good" under train; "ng", "uncertain" or "defect" under test. */
  label: string;
}

export const PLACES = {
  good: { split: "train", label: "good" },
  ng: { split: "test", label: "ng" },
  uncertain: { split: "test", label: "uncertain" },
  defect: { split: "test", label: "defect" },
} as const satisfies Record<string, Place>;

export const RECORDS_FOLDER = "records";
export const GROUND_TRUTH_FOLDER = "ground_truth";
export const MASK_SUFFIX = "_mask.png";
export const OVERLAY_SUFFIX = "_overlay";
export const RECORD_EXTENSION = ".json";

/** The image extensions the dataset readers take (src/offline/eval/mvtec-dataset.ts, lib/source/file-pattern.ts). */
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"] as const;

const PART_CHARS = /[^A-Za-z0-9-]+/g;
const MAX_PART_CHARS = 64;
const NAME = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d{3})_(\d+)_([A-Za-z0-9-]+)(?:\.(\d+))?$/;

/** A part id as it can stand in a file name: letters, digits and dashes, at most 64 characters; "-" for none. */
export function partKey(partId: string | null): string {
  if (partId === null) return "-";
  const key = partId.replace(PART_CHARS, "-").slice(0, MAX_PART_CHARS);
  return key === "" ? "-" : key;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** The name of an entry archived at `time`; `taken` says whether a name is in use already. */
export function entryName(time: number, resultId: number | null, partId: string | null, taken: (name: string) => boolean): string {
  const d = new Date(time);
  const stamp =
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}-` +
    `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}-${pad(d.getUTCMilliseconds(), 3)}`;
  const base = `${stamp}_${resultId ?? 0}_${partKey(partId)}`;
  let name = base;
  for (let n = 2; taken(name); n++) name = `${base}.${n}`;
  return name;
}

export interface ParsedName {
  /** When the entry was archived (ms since the epoch). */
  time: number;
  partKey: string;
}

/** The time and part key of an archive name; undefined for a file the archive did not name. */
export function parseEntryName(name: string): ParsedName | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second, ms] = m.slice(1, 8).map(Number) as [number, number, number, number, number, number, number];
  const time = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  return Number.isFinite(time) ? { time, partKey: m[9] as string } : undefined;
}

export function imageFolder(root: string, place: Place): string {
  return join(root, place.split, place.label);
}

export function recordFolder(root: string, place: Place): string {
  return join(root, RECORDS_FOLDER, place.split, place.label);
}

export function maskPath(root: string, place: Place, name: string): string {
  return join(root, GROUND_TRUTH_FOLDER, place.label, `${name}${MASK_SUFFIX}`);
}

/** The extension the dataset readers expect for an encoded image, from its first bytes; undefined when unknown. */
export function imageExtension(bytes: Buffer): string | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return ".jpg";
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return ".png";
  if (bytes.length >= 4 && (bytes.subarray(0, 4).equals(Buffer.from("II*\0", "latin1")) || bytes.subarray(0, 4).equals(Buffer.from("MM\0*", "latin1"))))
    return ".tif";
  if (bytes.length >= 12 && bytes.toString("latin1", 0, 4) === "RIFF" && bytes.toString("latin1", 8, 12) === "WEBP") return ".webp";
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) return ".bmp";
  return undefined;
}
