/**
 * Settings that differ by product, from a node's *Recipes* field: a JSON object from recipe name to
 * that recipe's options, e.g. `{ "B-200": { "roi": "40,0,560,480" } }`. Each is read by the node's
 * own option reader at deploy, so a bad value is refused then, naming the recipe, and never at
 * the first part of that product.
 */
import { DefectError, describeError, isDefectError } from "../errors";
import { readRecipe } from "../message/recipe";

export function parseRecipeSettings<T>(text: unknown, option: string, parse: (settings: Record<string, unknown>) => T): Map<string, T> {
  const settings = new Map<string, T>();
  if (text === undefined || text === null || (typeof text === "string" && text.trim() === "")) return settings;
  let parsed: unknown = text;
  if (typeof text === "string") {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new DefectError("invalidOption", `${option} must be a JSON object of recipe name to settings: ${describeError(error)}`, { option, value: text });
    }
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new DefectError("invalidOption", `${option} must be a JSON object of recipe name to settings`, { option, value: String(text) });
  }
  for (const [name, value] of Object.entries(parsed)) {
    const recipe = readRecipe({ recipe: name });
    if (recipe === undefined) throw new DefectError("invalidOption", `${option}: a recipe needs a name`, { option, value: name });
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new DefectError("invalidOption", `${option}: the settings of recipe "${recipe}" must be an object`, { option, value: `${recipe}: not an object` });
    }
    try {
      settings.set(recipe, parse(value as Record<string, unknown>));
    } catch (error) {
      const reason = isDefectError(error) ? error.message : describeError(error);
      // The reason travels in the value: the node's message shows "Invalid <option>: <value>".
      throw new DefectError("invalidOption", `${option}: recipe "${recipe}": ${reason}`, { option, value: `${recipe}: ${reason}` }, { cause: error });
    }
  }
  return settings;
}
