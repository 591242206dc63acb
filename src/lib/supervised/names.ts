/**
 * Class names from their three sources, in precedence order: the editor's comma list, a sidecar
 * file, the ONNX metadata "names" (Ultralytics writes a Python dict literal there); classes none of
 * them name are called "class N".
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { DefectError, describeError } from "../errors";
import { parsePythonLiteral } from "./python-literal";

/** Bounds the array a dict with a huge key would make (no real model has this many classes). */
export const MAX_CLASS_INDEX = 100_000;
const BYTE_ORDER_MARK = /^\uFEFF/;
const YAML_EXTENSIONS = [".yaml", ".yml"];

export type NamesSource = "editor" | "file" | "metadata" | "default";

export function defaultClassName(index: number): string {
  return `class ${index}`;
}

function invalid(source: string, problem: string): DefectError {
  return new DefectError("classNamesInvalid", `class names from ${source} ${problem}`, { source });
}

function asName(item: unknown, source: string, where: string): string {
  if (typeof item === "string") return item;
  throw invalid(source, `must be strings, but ${where} is ${JSON.stringify(item)}`);
}

/** Names indexed by class; keys missing from a dict get the default name. */
function fromEntries(entries: ReadonlyArray<readonly [number, string]>, source: string): string[] {
  const names: string[] = [];
  const seen = new Set<number>();
  for (const [index, name] of entries) {
    if (index > MAX_CLASS_INDEX) throw invalid(source, `use class index ${index}, above the limit of ${MAX_CLASS_INDEX}`);
    if (seen.has(index)) throw invalid(source, `give class ${index} twice`);
    seen.add(index);
    names[index] = name;
  }
  return Array.from(names, (name, i) => name ?? defaultClassName(i));
}

/** Ultralytics' metadata "names": `{0: 'a', 1: "b's"}` (also a list `['a', 'b']`). */
export function parsePythonNames(text: string, source = 'ONNX metadata "names"'): string[] {
  const literal = parsePythonLiteral(text, source);
  if (literal.kind === "list") return literal.items.map((item, i) => asName(item, source, `item ${i}`));
  return fromEntries(
    literal.entries.map(([index, item]) => [index, asName(item, source, `class ${index}`)] as const),
    source,
  );
}

/** A JSON array of names, or an object {"0": "a", "1": "b"}. */
export function parseJsonNames(text: string, source: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(source, `are not valid JSON: ${describeError(error)}`);
  }
  if (Array.isArray(value)) return value.map((item: unknown, i) => asName(item, source, `item ${i}`));
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).map(([key, item]): [number, string] => {
      const index = /^\d+$/.test(key) ? Number(key) : Number.NaN;
      if (!Number.isSafeInteger(index)) throw invalid(source, `must have class indexes as keys, but one key is ${JSON.stringify(key)}`);
      return [index, asName(item, source, `class ${key}`)];
    });
    return fromEntries(entries, source);
  }
  throw invalid(source, `must be a JSON array of names or an object {"0": "name"}, got ${JSON.stringify(value)}`);
}

/** One name a line; surrounding spaces and blank lines are dropped (a trailing newline is usual). */
export function parseLineNames(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/**
 * The editor's comma-separated list ("scratch, dent, crack"); "" gives [] (not set). Names holding
 * commas need a sidecar file. An empty name between commas is a typo, not a class.
 */
export function parseNameList(text: string, source = "the class names field"): string[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  const parts = trimmed.split(",").map((p) => p.trim());
  if (parts[parts.length - 1] === "") parts.pop();
  const empty = parts.indexOf("");
  if (empty >= 0) throw invalid(source, `have an empty name at position ${empty + 1} ("${trimmed}")`);
  return parts;
}

/** Parses a sidecar file's text: JSON (array or object), a Python dict literal, or one name a line. */
export function parseNamesText(text: string, source: string, extension = ""): string[] {
  const body = text.replace(BYTE_ORDER_MARK, "").trim();
  if (YAML_EXTENSIONS.includes(extension.toLowerCase())) {
    throw invalid(source, 'are in YAML, which is not read: give a JSON array, a JSON object {"0": "name"} or one name a line (.txt)');
  }
  if (body.startsWith("[") || body.startsWith("{")) {
    try {
      return parseJsonNames(body, source);
    } catch (jsonError) {
      // A copy of Ultralytics' metadata is a Python literal, not JSON.
      try {
        return parsePythonNames(body, source);
      } catch {
        throw jsonError;
      }
    }
  }
  if (extension.toLowerCase() === ".json") return parseJsonNames(body, source);
  return parseLineNames(body);
}

export async function readNamesFile(file: string): Promise<string[]> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await fs.readFile(absolute, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new DefectError("fileNotFound", `class names file not found: ${absolute}`, { path: absolute }, { cause: error });
    }
    throw new DefectError(
      "fileReadFailed",
      `cannot read class names file ${absolute}: ${describeError(error)}`,
      { path: absolute, reason: describeError(error) },
      { cause: error },
    );
  }
  const names = parseNamesText(text, absolute, path.extname(absolute));
  if (names.length === 0) throw invalid(absolute, "are empty: the file names no class");
  return names;
}

export interface NameCandidates {
  /** The editor's list (already split), or a caller's explicit list. */
  editor?: readonly string[];
  /** Read from a sidecar file. */
  file?: readonly string[];
  /** From the ONNX metadata. */
  metadata?: readonly string[];
}

export interface ResolvedNames {
  names: string[];
  source: NamesSource;
  warnings: string[];
}

/**
 * Editor > file > metadata > "class N". `count` is the model's class count (null when the graph does not
 * fix it): a shorter list is completed with default names, a longer one cut, each with a warning.
 */
export function resolveClassNames(candidates: NameCandidates, count: number | null): ResolvedNames {
  const ordered: Array<[NamesSource, readonly string[] | undefined]> = [
    ["editor", candidates.editor],
    ["file", candidates.file],
    ["metadata", candidates.metadata],
  ];
  const chosen = ordered.find(([, list]) => list !== undefined && list.length > 0);
  const warnings: string[] = [];
  if (chosen === undefined) {
    return { names: Array.from({ length: count ?? 0 }, (_, i) => defaultClassName(i)), source: "default", warnings };
  }
  const [source, list] = chosen;
  const names = [...(list ?? [])];
  if (count !== null && names.length !== count) {
    warnings.push(`the ${source} class names list ${names.length} names but the model has ${count} classes`);
    if (names.length > count) names.length = count;
    for (let i = names.length; i < count; i++) names.push(defaultClassName(i));
  }
  return { names, source, warnings };
}
