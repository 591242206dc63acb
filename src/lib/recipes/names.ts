/**
 * Where a recipe's state lives: beside the node's own file, as `<node>@<recipe><ext>`. The node's
 * file itself is the state of messages that name no recipe, so a flow that never uses recipes
 * keeps its files, and one that starts to keeps what it learned as the default product. Recipe
 * names are percent-encoded except letters, digits, "_" and "-", so any printable name is one
 * file name on every file system and is read back exactly.
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { errnoCode } from "../source/read-file";

const SEPARATOR = "@";

export function recipeToken(recipe: string): string {
  let token = "";
  for (const ch of recipe) {
    if (/[A-Za-z0-9_-]/.test(ch)) token += ch;
    else for (const byte of Buffer.from(ch, "utf8")) token += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return token;
}

/** undefined for a token no recipe gives (a file someone else put there). */
export function recipeFromToken(token: string): string | undefined {
  try {
    const recipe = decodeURIComponent(token);
    return recipe !== "" && recipeToken(recipe) === token ? recipe : undefined;
  } catch {
    return undefined;
  }
}

/** The file of `recipe` for a node whose own file is `path`; `path` itself for no recipe. */
export function recipePath(path: string, recipe: string | undefined): string {
  if (recipe === undefined) return path;
  const ext = extname(path);
  return join(dirname(path), `${basename(path, ext)}${SEPARATOR}${recipeToken(recipe)}${ext}`);
}

/** The recipes that have a file beside `path`, sorted; none when the folder does not exist yet. */
export async function recipesOnDisk(path: string): Promise<string[]> {
  const ext = extname(path);
  const prefix = `${basename(path, ext)}${SEPARATOR}`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
  const recipes = names
    .filter((name) => name.startsWith(prefix) && name.endsWith(ext) && name.length > prefix.length + ext.length)
    .map((name) => recipeFromToken(name.slice(prefix.length, name.length - ext.length)))
    .filter((recipe): recipe is string => recipe !== undefined);
  return recipes.sort();
}
