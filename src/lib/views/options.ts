/** The join views node's options, parsed once from editor values with the defaults in one place. */
import { integerOption, invalidOption, isMissing, optionText, propertyOption } from "../config/option-values";
import type { JoinViewsOptions } from "./types";

/** A station has a handful of cameras and lights; a longer list is a typing slip, not a station. */
export const MAX_VIEWS = 32;
/** Bounds the memory of open parts (each holds its last view's message, image included). */
export const MAX_OPEN_PARTS = 10_000;
/** An hour: a part still missing a view after that is lost, not late. */
export const MAX_TIMEOUT_MS = 3_600_000;

export const DEFAULT_JOIN_VIEWS_OPTIONS: JoinViewsOptions = {
  views: ["top", "side"],
  viewProperty: "view",
  timeoutMs: 5000,
  maxParts: 100,
};

const EXPECTED_VIEWS = `2 to ${MAX_VIEWS} different view names separated by commas, such as top,side`;

/** "top, side" -> ["top", "side"]: names trimmed, none empty, none twice. */
export function parseViewNames(value: unknown, fallback: readonly string[]): string[] {
  if (isMissing(value)) return [...fallback];
  const names = optionText(value)
    .split(",")
    .map((name) => name.trim());
  const ok = names.length >= 2 && names.length <= MAX_VIEWS && names.every((name) => name !== "") && new Set(names).size === names.length;
  if (!ok) throw invalidOption("views", EXPECTED_VIEWS, value);
  return names;
}

export function parseJoinViewsOptions(input: Record<string, unknown>): JoinViewsOptions {
  const d = DEFAULT_JOIN_VIEWS_OPTIONS;
  return {
    views: parseViewNames(input["views"], d.views),
    viewProperty: propertyOption("viewProperty", input["viewProperty"], d.viewProperty),
    timeoutMs: integerOption("timeout", input["timeout"], 1, MAX_TIMEOUT_MS, d.timeoutMs),
    maxParts: integerOption("maxParts", input["maxParts"], 1, MAX_OPEN_PARTS, d.maxParts),
  };
}
