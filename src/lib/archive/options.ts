/**
 * Options of the NG archive, parsed once from editor values (strings) with every default in one
 * place; an out-of-range value is an invalidOption error naming the option.
 */
import { invalidOption, optionText, rangeOption } from "../config/option-values";

/** 1 OK part in 100 keeps a sample of good parts for the next training set without filling the disk. */
export const DEFAULT_OK_EVERY = 100;
export const DEFAULT_MAX_COUNT = 10_000;
export const DEFAULT_MAX_MB = 1000;
export const DEFAULT_MAX_DAYS = 30;
/** Below this much free space on the archive's disk nothing more is written. */
export const DEFAULT_MIN_FREE_MB = 500;
/** Parts remembered for a later confirmation when they were not archived (an OK part not sampled). */
export const DEFAULT_REMEMBER_PARTS = 50;
export const DEFAULT_FOLDER = "defect-archive";

export const MAX_OK_EVERY = 1_000_000;
export const MAX_COUNT = 10_000_000;
/** 10 TB: a bound, not a promise; the free-space floor still applies. */
export const MAX_MB = 10_000_000;
export const MAX_DAYS = 36_500;
export const MAX_REMEMBER_PARTS = 1000;

export const BYTES_PER_MB = 1024 * 1024;
export const MS_PER_DAY = 24 * 60 * 60 * 1000;

export interface ArchiveOptions {
  /** As configured; relative paths start at the Node-RED user directory (resolved by the node). */
  folder: string;
  /** Archive 1 OK part in N; 0 archives none. */
  okEvery: number;
  maxCount: number;
  maxBytes: number;
  /** Entries older than this are removed; 0 keeps entries whatever their age. */
  maxAgeMs: number;
  minFreeBytes: number;
  rememberParts: number;
}

export function parseArchiveOptions(input: Record<string, unknown>): ArchiveOptions {
  const folderText = optionText(input["folder"]);
  const folder = folderText === "" ? DEFAULT_FOLDER : folderText;
  if (folder.includes("\0")) throw invalidOption("folder", "a folder path", input["folder"]);
  const maxMb = rangeOption("maxMb", input["maxMb"], 0, MAX_MB, DEFAULT_MAX_MB, false);
  // 0 MB would refuse every part; a size above 0 (0.5 MB) is a bound a test rig may want.
  if (maxMb <= 0) throw invalidOption("maxMb", `a number above 0 and at most ${MAX_MB}`, input["maxMb"]);
  return {
    folder,
    okEvery: rangeOption("okEvery", input["okEvery"], 0, MAX_OK_EVERY, DEFAULT_OK_EVERY, true),
    maxCount: rangeOption("maxCount", input["maxCount"], 1, MAX_COUNT, DEFAULT_MAX_COUNT, true),
    maxBytes: Math.floor(maxMb * BYTES_PER_MB),
    maxAgeMs: rangeOption("maxDays", input["maxDays"], 0, MAX_DAYS, DEFAULT_MAX_DAYS, false) * MS_PER_DAY,
    minFreeBytes: Math.floor(rangeOption("minFreeMb", input["minFreeMb"], 0, MAX_MB, DEFAULT_MIN_FREE_MB, false) * BYTES_PER_MB),
    rememberParts: rangeOption("rememberParts", input["rememberParts"], 0, MAX_REMEMBER_PARTS, DEFAULT_REMEMBER_PARTS, true),
  };
}
