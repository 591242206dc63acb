/**
 * Options of the image source, parsed once from editor values (which arrive as strings) with
 * the defaults in one place.
 */
import { booleanOption, numberWhere, optionText, rangeOption } from "../config/option-values";
import { DefectError } from "../errors";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_DOWNLOAD_BYTES, parseSnapshotUrl } from "./fetch-snapshot";
import { compileFilePattern, DEFAULT_IMAGE_PATTERN, type FileNameMatcher } from "./file-pattern";
import { DEFAULT_STABLE_MS } from "./folder-watcher";
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MS, MAX_RETRIES, MAX_RETRY_DELAY_MS } from "./retry";

export const SOURCE_MODES = ["file", "folder", "url", "payload"] as const;
export type SourceMode = (typeof SOURCE_MODES)[number];

const BYTES_PER_MEGABYTE = 1024 * 1024;

export interface SourceOptions {
  mode: SourceMode;
  /** "" = take the path from the message. */
  path: string;
  folder: string;
  /** File mode: "" = any path; else every path must lie inside this folder (`..` and links out refused). */
  root: string;
  pattern: string;
  match: FileNameMatcher;
  emitExisting: boolean;
  stableMs: number;
  /** "" = take the URL from the message. */
  url: string;
  timeoutMs: number;
  maxBytes: number;
  /** Snapshot attempts after the first failed one (transient failures only); 0 = none. */
  retries: number;
  /** Wait before the first retry; doubled for each later one, capped. */
  retryDelayMs: number;
}

function isSourceMode(value: unknown): value is SourceMode {
  return typeof value === "string" && (SOURCE_MODES as readonly string[]).includes(value);
}

/**
 * A positive finite number from an editor value; empty or missing gives `fallback`.
 * Throws invalidOption naming the option otherwise.
 */
export function parsePositiveNumber(value: unknown, option: string, fallback: number): number {
  return numberWhere(option, value, fallback, "a positive number", (n) => n > 0);
}

export function parseSourceOptions(input: Record<string, unknown>): SourceOptions {
  const mode = input["mode"] ?? "file";
  if (!isSourceMode(mode)) {
    const value = optionText(mode);
    throw new DefectError("invalidOption", `Mode "${value}" is not one of ${SOURCE_MODES.join(", ")}`, { option: "mode", value });
  }
  const url = optionText(input["url"]);
  if (mode === "url" && url !== "") parseSnapshotUrl(url);
  const folder = optionText(input["folder"]);
  if (mode === "folder" && folder === "") {
    throw new DefectError("missingSource", "Folder mode needs a folder", { option: "folder", property: "folder" });
  }
  const pattern = optionText(input["pattern"]) || DEFAULT_IMAGE_PATTERN;
  return {
    mode,
    path: optionText(input["path"]),
    folder,
    root: optionText(input["root"]),
    pattern,
    match: compileFilePattern(pattern),
    emitExisting: booleanOption("emitExisting", input["emitExisting"], false),
    stableMs: parsePositiveNumber(input["stableMs"], "stableMs", DEFAULT_STABLE_MS),
    url,
    timeoutMs: parsePositiveNumber(input["timeout"], "timeout", DEFAULT_FETCH_TIMEOUT_MS),
    retries: rangeOption("retries", input["retries"], 0, MAX_RETRIES, DEFAULT_RETRIES, true),
    retryDelayMs: rangeOption("retryDelay", input["retryDelay"], 0, MAX_RETRY_DELAY_MS, DEFAULT_RETRY_DELAY_MS, false),
    maxBytes: Math.round(
      parsePositiveNumber(input["maxDownload"], "maxDownload", DEFAULT_MAX_DOWNLOAD_BYTES / BYTES_PER_MEGABYTE) * BYTES_PER_MEGABYTE,
    ),
  };
}
