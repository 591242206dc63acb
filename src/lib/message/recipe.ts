/**
 * msg.recipe: the product a message belongs to (product changeover). The detector inspects and
 * learns with that recipe's model, the threshold calibrates and decides with that recipe's
 * calibration, preprocess and alarm apply that recipe's settings. A number (a PLC register) and
 * its text name the same recipe.
 */
import { DefectError } from "../errors";
import type { MessageFields, MessageView } from "./record";
import { readIdentifier } from "./identifier";

/** Recipe names end up in file names (one model a recipe): long enough for product codes, not for paths. */
export const MAX_RECIPE_LENGTH = 64;

/** The recipe a message names; undefined when it names none. invalidOption for one that cannot be a recipe. */
export function readRecipe(msg: MessageView): string | undefined {
  const recipe = readIdentifier(msg["recipe"], "recipe");
  if (recipe === undefined) return undefined;
  const trimmed = recipe.trim();
  if (trimmed === "" || trimmed.length > MAX_RECIPE_LENGTH || /[\u0000-\u001f]/.test(trimmed)) {
    throw new DefectError("invalidOption", `msg.recipe must be 1 to ${MAX_RECIPE_LENGTH} printable characters, got ${JSON.stringify(recipe)}`, {
      option: "msg.recipe",
      value: recipe,
    });
  }
  return trimmed;
}

/** Names the recipe that handled the message, for the nodes after (undefined: the node has none, nothing written). */
export function writeRecipe(msg: MessageFields, recipe: string | undefined): void {
  if (recipe !== undefined) msg["recipe"] = recipe;
}
