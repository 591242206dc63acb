/**
 * The recipes a node holds open (a detector's models with their sessions, a threshold's
 * calibrations): once used, switching back costs no reload from disk, up to `size` recipes; the
 * least recently used one that nothing is using is closed beyond that, and counted, so a line
 * with more products than the cache sees why a changeover became slow.
 */
/** Products a node keeps open by default: a line rarely switches among more within a shift. */
export const DEFAULT_RECIPE_CACHE = 4;
export const MAX_RECIPE_CACHE = 64;

export interface RecipeCacheOptions<T> {
  size: number;
  open(recipe: string | undefined): Promise<T>;
  close(value: T): Promise<void>;
  /** A recipe closed to make room that failed to close (nobody waits for that close). */
  onCloseError?(error: unknown): void;
}

interface Entry<T> {
  recipe: string | undefined;
  value: Promise<T>;
  users: number;
}

/** "" cannot be a recipe (msg.recipe refuses it): the key of messages that name none. */
function keyOf(recipe: string | undefined): string {
  return recipe ?? "";
}

export class RecipeCache<T> {
  /** In order of last use, oldest first (a Map keeps insertion order; a use re-inserts). */
  private readonly entries = new Map<string, Entry<T>>();
  private closing: Promise<void>[] = [];
  private evicted = 0;

  constructor(private readonly options: RecipeCacheOptions<T>) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`a recipe cache holds at least 1 recipe (got ${options.size})`);
  }

  /** Recipes closed to make room since the node started. */
  get evictions(): number {
    return this.evicted;
  }

  /** The recipes open now (or opening), least recently used first; undefined is the default. */
  get open(): Array<string | undefined> {
    return [...this.entries.values()].map((e) => e.recipe);
  }

  /** The recipe's value if it is open, without opening it or counting a use. */
  peek(recipe: string | undefined): Promise<T> | undefined {
    return this.entries.get(keyOf(recipe))?.value;
  }

  /** Runs `work` with the recipe's value, opening it if needed; it is not closed while `work` runs. */
  async use<R>(recipe: string | undefined, work: (value: T) => Promise<R> | R): Promise<R> {
    const entry = this.enter(recipe);
    try {
      return await work(await entry.value);
    } finally {
      entry.users -= 1;
      this.trim();
    }
  }

  /** Closes every recipe (the node closes); waits for closes already started. */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    const settled = await Promise.allSettled([...this.closing, ...all.map((e) => this.closeEntry(e))]);
    // Every recipe is closed before the first failure is told.
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  private enter(recipe: string | undefined): Entry<T> {
    const key = keyOf(recipe);
    let entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
    } else {
      const created: Entry<T> = { recipe, value: this.options.open(recipe), users: 0 };
      // A recipe that failed to open is forgotten, so the next message tries again (after a fix).
      created.value.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      });
      entry = created;
    }
    this.entries.set(key, entry);
    // In use before the cache is trimmed, so the recipe asked for is never the one closed.
    entry.users += 1;
    this.trim();
    return entry;
  }

  private trim(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.options.size) return;
      if (entry.users > 0) continue;
      this.entries.delete(key);
      this.evicted += 1;
      const closing = this.closeEntry(entry).catch((error: unknown) => this.options.onCloseError?.(error));
      this.closing.push(closing);
      void closing.finally(() => {
        this.closing = this.closing.filter((c) => c !== closing);
      });
    }
  }

  private async closeEntry(entry: Entry<T>): Promise<void> {
    let value: T;
    try {
      value = await entry.value;
    } catch {
      return;
    }
    await this.options.close(value);
  }
}
