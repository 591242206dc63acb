/**
 * The recipe plumbing a node uses for product changeover: recipe names as file names (any
 * printable name, read back exactly), the bounded cache of open recipes (opened once, least
 * recently used closed first, never one in use, a failed open tried again, evictions counted),
 * the saved selection, and msg.recipe itself.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readRecipe } from "../../src/lib/message";
import {
  loadSelection,
  parseRecipeSettings,
  RecipeCache,
  recipeFromToken,
  recipePath,
  recipesOnDisk,
  recipeToken,
  saveSelection,
  selectionPath,
} from "../../src/lib/recipes";

describe("recipes", function () {
  let dir = "";
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "recipes-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  describe("names", function () {
    it("turns any printable name into one file name and back", function () {
      for (const name of ["B-200", "product 7", "../../etc/passwd", "Käse/Brot", ".hidden", "a%2Fb", "0"]) {
        const token = recipeToken(name);
        assert.match(token, /^[A-Za-z0-9_%-]+$/, token);
        assert.equal(recipeFromToken(token), name);
      }
      assert.equal(recipeToken("../x"), "%2E%2E%2Fx");
      assert.equal(recipeFromToken("%2e"), undefined, "a token no name gives is not a recipe");
    });

    it("places a recipe's file beside the node's own and lists the recipes on disk", async function () {
      const own = join(dir, "node1.ddm");
      assert.equal(recipePath(own, undefined), own);
      assert.equal(recipePath(own, "B 2"), join(dir, "node1@B%202.ddm"));
      assert.deepEqual(await recipesOnDisk(own), []);
      for (const name of ["node1.ddm", "node1@B%202.ddm", "node1@A.ddm", "node1@A.ddm.tmp", "node2@C.ddm", "node1@%zz.ddm"])
        await writeFile(join(dir, name), "x");
      assert.deepEqual(await recipesOnDisk(own), ["A", "B 2"]);
      assert.deepEqual(await recipesOnDisk(join(dir, "missing", "n.ddm")), []);
    });
  });

  describe("the cache of open recipes", function () {
    function cacheOf(size: number, failFirst: string[] = []) {
      const opened: Array<string | undefined> = [];
      const closed: string[] = [];
      const failing = new Set(failFirst);
      const cache = new RecipeCache<string>({
        size,
        open: async (recipe) => {
          opened.push(recipe);
          if (recipe !== undefined && failing.delete(recipe)) throw new Error(`cannot open ${recipe}`);
          return `model of ${recipe ?? "default"}`;
        },
        close: async (value) => void closed.push(value),
      });
      return { cache, opened, closed };
    }

    it("opens a recipe once and closes the least recently used one beyond its size, counting it", async function () {
      const { cache, opened, closed } = cacheOf(2);
      assert.equal(await cache.use("A", (m) => m), "model of A");
      await cache.use("B", (m) => m);
      await cache.use("A", (m) => m);
      assert.deepEqual(opened, ["A", "B"], "A again from the cache");
      await cache.use("C", (m) => m);
      assert.deepEqual([cache.open, cache.evictions], [["A", "C"], 1]);
      await cache.closeAll();
      assert.deepEqual(closed.sort(), ["model of A", "model of B", "model of C"]);
      assert.deepEqual(cache.open, []);
    });

    it("never closes a recipe while it is in use, and trims once it is free", async function () {
      const { cache, closed } = cacheOf(1);
      let release = (): void => undefined;
      const busy = cache.use("A", () => new Promise<void>((resolve) => (release = resolve)));
      await new Promise((resolve) => setImmediate(resolve));
      await cache.use("B", (m) => m);
      assert.deepEqual(closed, ["model of B"], "A busy: B, the one not in use, made room");
      release();
      await busy;
      assert.deepEqual(cache.open, ["A"]);
    });

    it("forgets a recipe that failed to open, so the next use tries again", async function () {
      const { cache, opened } = cacheOf(2, ["A"]);
      await assert.rejects(
        cache.use("A", (m) => m),
        /cannot open A/,
      );
      assert.equal(await cache.use("A", (m) => m), "model of A");
      assert.deepEqual(opened, ["A", "A"]);
    });

    it("refuses a size below 1", function () {
      assert.throws(() => new RecipeCache({ size: 0, open: async () => 1, close: async () => undefined }), /at least 1/);
    });
  });

  describe("the saved selection", function () {
    it("is saved atomically, read back, and a damaged file is refused by name", async function () {
      const path = selectionPath(join(dir, "sel.ddm"));
      assert.equal(await loadSelection(path), undefined, "none saved: the default");
      await saveSelection(path, "B 2", new Date(0));
      assert.equal(await loadSelection(path), "B 2");
      await saveSelection(path, undefined, new Date(0));
      assert.equal(await loadSelection(path), undefined);
      await writeFile(path, '{"format":"defect-detection-recipe-selection","version":9,"recipe":"A"}');
      await assert.rejects(
        loadSelection(path),
        (error: Error & { code?: string }) => error.code === "fileReadFailed" && /not a version 1 recipe selection/.test(error.message),
      );
      await writeFile(path, "{");
      await assert.rejects(loadSelection(path), /is not JSON/);
    });
  });

  describe("settings by recipe", function () {
    it("reads each recipe's settings with the node's own reader, naming the recipe whose settings are wrong", function () {
      const parse = (s: Record<string, unknown>): number => {
        if (typeof s["n"] !== "number") throw new Error("n must be a number");
        return s["n"];
      };
      assert.deepEqual([...parseRecipeSettings("", "recipes", parse)], []);
      assert.deepEqual(
        [...parseRecipeSettings('{" B-200 ": {"n": 2}, "7": {"n": 3}}', "recipes", parse)],
        [
          ["7", 3],
          ["B-200", 2],
        ],
      );
      for (const [text, reason] of [
        ["{", /must be a JSON object of recipe name to settings/],
        ["[1]", /must be a JSON object/],
        ['{"A": 1}', /the settings of recipe "A" must be an object/],
        ['{"A": {"n": "x"}}', /recipe "A": n must be a number/],
        ['{"": {"n": 1}}', /a recipe needs a name/],
      ] as const) {
        assert.throws(
          () => parseRecipeSettings(text, "recipes", parse),
          (error: Error & { code?: string }) => error.code === "invalidOption" && reason.test(error.message),
          text,
        );
      }
    });
  });

  describe("msg.recipe", function () {
    it("reads text and numbers, trims, and refuses what cannot be a recipe", function () {
      assert.equal(readRecipe({}), undefined);
      assert.equal(readRecipe({ recipe: "" }), undefined);
      assert.equal(readRecipe({ recipe: 7 }), "7");
      assert.equal(readRecipe({ recipe: " B-200 " }), "B-200");
      for (const bad of [{ a: 1 }, true, "   ", "x".repeat(65), "a\nb"]) {
        assert.throws(
          () => readRecipe({ recipe: bad }),
          (error: Error & { code?: string }) => error.code === "invalidOption",
          JSON.stringify(bad),
        );
      }
    });
  });
});
