/**
 * The recipes a station offers: in this package a recipe is a product id (what the line changes
 * over to), no program or file. The editor's list comes first, then every recipe the station has
 * seen on msg.recipe, in the order first seen; nothing is forgotten until redeploy.
 */

/** At most this many recipes are remembered from messages: a flow that puts a serial on msg.recipe must not grow memory without end. */
export const MAX_SEEN_RECIPES = 1000;

export interface RecipeBook {
  /** Every recipe, in order. */
  list(): readonly string[];
  has(recipe: string): boolean;
  /** Adds a recipe seen on a message; false when it is known or the book is full. */
  see(recipe: string): boolean;
}

export function createRecipeBook(configured: readonly string[]): RecipeBook {
  const recipes = new Set<string>(configured);
  const limit = configured.length + MAX_SEEN_RECIPES;
  return {
    list: () => [...recipes],
    has: (recipe) => recipes.has(recipe),
    see(recipe) {
      if (recipes.has(recipe) || recipes.size >= limit) return false;
      recipes.add(recipe);
      return true;
    },
  };
}

/** GetRecipeListFiltered's filters: an empty id matches any; `prepared` true/false or null for don't care. */
export interface RecipeFilter {
  externalId: string;
  productId: string;
  prepared: boolean | null;
  maxResults: number;
  startIndex: number;
}

export interface Page<T> {
  items: T[];
  /** All matches, before paging. */
  total: number;
  /** True when the page holds every match from startIndex on. */
  complete: boolean;
}

/** One page of `items`: `maxResults` 0 means no limit, as the OPC 40100 list methods read it. */
export function page<T>(items: readonly T[], startIndex: number, maxResults: number): Page<T> {
  const rest = items.slice(startIndex);
  const taken = maxResults > 0 ? rest.slice(0, maxResults) : rest;
  return { items: taken, total: items.length, complete: taken.length === rest.length };
}

export function filterRecipes(recipes: readonly string[], prepared: string | null, filter: RecipeFilter): Page<string> {
  // A recipe is a product id here, so ExternalId and ProductId filter the same name.
  const matches = recipes.filter(
    (recipe) =>
      (filter.externalId === "" || recipe === filter.externalId) &&
      (filter.productId === "" || recipe === filter.productId) &&
      (filter.prepared === null || (recipe === prepared) === filter.prepared),
  );
  return page(matches, filter.startIndex, filter.maxResults);
}
