/** Product changeover: one state a recipe (product id), files beside the node's own, a bounded cache of open ones. */
export { DEFAULT_RECIPE_CACHE, MAX_RECIPE_CACHE, RecipeCache, type RecipeCacheOptions } from "./cache";
export { recipeFromToken, recipePath, recipesOnDisk, recipeToken } from "./names";
export { loadSelection, saveSelection, selectionPath } from "./selection";
export { parseRecipeSettings } from "./settings";
