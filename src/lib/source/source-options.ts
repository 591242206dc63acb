/**
 * Options of the image source, parsed once from editor values (which arrive as strings) with
 * the defaults in one place.
 */
import { booleanOption, invalidOption, numberWhere, oneOf, optionText, rangeOption } from "../config/option-values";
import { DefectError } from "../errors";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_DOWNLOAD_BYTES, parseSnapshotUrl } from "./fetch-snapshot";
import { compileFilePattern, DEFAULT_IMAGE_PATTERN, type FileNameMatcher } from "./file-pattern";
import { DEFAULT_STABLE_MS } from "./folder-watcher";
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MS, MAX_RETRIES, MAX_RETRY_DELAY_MS } from "./retry";

export const SOURCE_MODES = ["file", "folder", "url", "payload"] as const;
export type SourceMode = (typeof SOURCE_MODES)[number];

const BYTES_PER_MEGABYTE = 1024 * 1024;

/** How the editor's typed inputs give a path or URL: the text itself, or a message property's name. */
export const VALUE_SOURCES = ["str", "msg"] as const;
export type ValueSource = (typeof VALUE_SOURCES)[number];

export interface SourceOptions {
  mode: SourceMode;
  /** "str": `path` is the path ("" = msg.filename, else a string msg.payload); "msg": the property holding it. */
  pathType: ValueSource;
  /** "" = take the path from the message. */
  path: string;
  folder: string;
  /** File mode: "" = any path; else every path must lie inside this folder (`..` and links out refused). */
  root: string;
  pattern: string;
  match: FileNameMatcher;
  emitExisting: boolean;
  stableMs: number;
  /** "str": `url` is the URL ("" = msg.url); "msg": the property holding it. */
  urlType: ValueSource;
  /** "" = take the URL from the message. */
  url: string;
  /**
   * Hosts ("cam", "cam:8443") a URL from the message, and every redirect, may name; empty = any.
   * Credentials go to a message URL only when its host is listed, and to a configured URL only
   * at its own origin.
   */
  allowedHosts: string[];
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
  const pathType = oneOf("pathType", input["pathType"], VALUE_SOURCES, "str");
  const urlType = oneOf("urlType", input["urlType"], VALUE_SOURCES, "str");
  const path = optionText(input["path"]);
  const url = optionText(input["url"]);
  if (mode === "file" && pathType === "msg" && path === "") throw invalidOption("path", "the name of a message property", path);
  if (mode === "url" && urlType === "msg" && url === "") throw invalidOption("url", "the name of a message property", url);
  if (mode === "url" && urlType === "str" && url !== "") parseSnapshotUrl(url);
  const folder = optionText(input["folder"]);
  if (mode === "folder" && folder === "") {
    throw new DefectError("missingSource", "Folder mode needs a folder", { option: "folder", property: "folder" });
  }
  const pattern = optionText(input["pattern"]) || DEFAULT_IMAGE_PATTERN;
  return {
    mode,
    pathType,
    path,
    folder,
    root: optionText(input["root"]),
    pattern,
    match: compileFilePattern(pattern),
    emitExisting: booleanOption("emitExisting", input["emitExisting"], false),
    stableMs: parsePositiveNumber(input["stableMs"], "stableMs", DEFAULT_STABLE_MS),
    urlType,
    url,
    allowedHosts: optionText(input["allowedHosts"])
      .split(",")
      .map((h) => h.trim())
      .filter((h) => h !== ""),
    timeoutMs: parsePositiveNumber(input["timeout"], "timeout", DEFAULT_FETCH_TIMEOUT_MS),
    retries: rangeOption("retries", input["retries"], 0, MAX_RETRIES, DEFAULT_RETRIES, true),
    retryDelayMs: rangeOption("retryDelay", input["retryDelay"], 0, MAX_RETRY_DELAY_MS, DEFAULT_RETRY_DELAY_MS, false),
    maxBytes: Math.round(parsePositiveNumber(input["maxDownload"], "maxDownload", DEFAULT_MAX_DOWNLOAD_BYTES / BYTES_PER_MEGABYTE) * BYTES_PER_MEGABYTE),
  };
}
