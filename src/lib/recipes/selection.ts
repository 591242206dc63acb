/**
 * The recipe a node was last switched to, kept across restarts: a PLC sets the product once at
 * changeover, not with every part, so after a restart the node must still inspect the product
 * the line is running. Written atomically and versioned like the learned state.
 */
import { readFile } from "node:fs/promises";
import { DefectError, describeError } from "../errors";
import { writeFileAtomic } from "../persist";
import { errnoCode } from "../source/read-file";

const FORMAT = "defect-detection-recipe-selection";
const VERSION = 1;

interface SelectionFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** null: the default (messages that name no recipe). */
  recipe: string | null;
  selected: string;
}

/** `<node file>.recipe.json` beside the node's own state file. */
export function selectionPath(nodeFile: string): string {
  return `${nodeFile}.recipe.json`;
}

/** The saved selection; undefined (the default) when none was saved. fileError for a file that is not one. */
export async function loadSelection(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw new DefectError("fileReadFailed", `cannot read the recipe selection ${path}: ${describeError(error)}`, { path }, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DefectError("fileReadFailed", `the recipe selection ${path} is not JSON: ${describeError(error)}`, { path }, { cause: error });
  }
  const file = parsed as Partial<SelectionFile> | null;
  if (
    file === null ||
    typeof file !== "object" ||
    file.format !== FORMAT ||
    file.version !== VERSION ||
    (file.recipe !== null && typeof file.recipe !== "string")
  ) {
    throw new DefectError("fileReadFailed", `${path} is not a version ${VERSION} recipe selection`, { path });
  }
  return file.recipe ?? undefined;
}

export async function saveSelection(path: string, recipe: string | undefined, when: Date): Promise<void> {
  const file: SelectionFile = { format: FORMAT, version: VERSION, recipe: recipe ?? null, selected: when.toISOString() };
  await writeFileAtomic(path, [Buffer.from(`${JSON.stringify(file, null, 2)}\n`, "utf8")]);
}
