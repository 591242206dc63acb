/**
 * The vision station's editor options, parsed once with every default in one place. Each bad value
 * is invalidOption naming the option, before any server is started.
 */
import { integerOption, invalidOption, optionText } from "../config/option-values";
import { MAX_RECIPE_LENGTH } from "../message";

/** OPC UA's registered port. */
export const DEFAULT_PORT = 4840;
export const DEFAULT_PATH = "/UA/DefectVisionStation";
export const DEFAULT_MAX_RESULTS = 1000;
/** Each kept result is a record of a few KB (its regions): 100,000 stay well under a few hundred MB. */
export const MAX_RESULTS_LIMIT = 100_000;
/** OPC 40100's TrimmedString ids are plain text; a recipe list longer than this is a pasted file, not products. */
export const MAX_RECIPES = 1000;

export interface StationOptions {
  /** TCP port; 0 lets the system pick a free one (tests). */
  port: number;
  /** Address to listen on; "" for every interface. */
  host: string;
  /** The endpoint's resource path, e.g. "/UA/DefectVisionStation" (opc.tcp://host:port/UA/DefectVisionStation). */
  path: string;
  /** The recipes (product ids) the editor lists. */
  recipes: string[];
  /** Results kept for GetResultById / GetResultListFiltered. */
  maxResults: number;
}

const PATH = /^(\/[A-Za-z0-9._~-]+)*$/;
/** A host name, an IPv4 address or a bracket-free IPv6 address. */
const HOST = /^[A-Za-z0-9.:-]*$/;

/** Recipes from the editor: one per line or comma separated, trimmed, empties and repeats dropped. */
export function parseRecipeList(value: unknown): string[] {
  const recipes: string[] = [];
  for (const part of optionText(value).split(/[\n,]/)) {
    const recipe = part.trim();
    if (recipe === "" || recipes.includes(recipe)) continue;
    if (recipe.length > MAX_RECIPE_LENGTH) throw invalidOption("recipes", `recipe ids of at most ${MAX_RECIPE_LENGTH} characters`, recipe);
    recipes.push(recipe);
  }
  if (recipes.length > MAX_RECIPES) throw invalidOption("recipes", `at most ${MAX_RECIPES} recipes`, `${recipes.length} recipes`);
  return recipes;
}

export function parseStationOptions(input: Record<string, unknown>): StationOptions {
  const host = optionText(input["host"]);
  if (!HOST.test(host)) throw invalidOption("host", "a host name or IP address (empty: every interface)", host);
  const path = optionText(input["path"]);
  if (path !== "" && !PATH.test(path)) throw invalidOption("path", "a path such as /UA/DefectVisionStation (letters, digits, . _ ~ -)", path);
  return {
    port: integerOption("port", input["port"], 0, 65535, DEFAULT_PORT),
    host,
    path: path === "" ? DEFAULT_PATH : path,
    recipes: parseRecipeList(input["recipes"]),
    maxResults: integerOption("maxResults", input["maxResults"], 1, MAX_RESULTS_LIMIT, DEFAULT_MAX_RESULTS),
  };
}
