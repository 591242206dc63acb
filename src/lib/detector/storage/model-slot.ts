/**
 * The model that answers inspections, swappable while inspections are running: a new fit (or a
 * reset) replaces it at once, and the old one is released only when the last inspection that
 * leased it has finished, so no inspection ever runs on a released session.
 */
export interface Releasable {
  release(): Promise<void>;
}

export interface Lease<T> {
  readonly value: T;
  /** Idempotent. */
  release(): void;
}

interface Entry<T> {
  value: T;
  uses: number;
  retired: boolean;
  released: Promise<void> | undefined;
}

export class ModelSlot<T extends Releasable> {
  private current: Entry<T> | undefined;
  /** Retired models still leased; close() waits for them. */
  private readonly retiring = new Set<Entry<T>>();
  private readonly releases = new Set<Promise<void>>();
  private idle: (() => void) | undefined;

  constructor(private readonly onReleaseError: (error: unknown) => void) {}

  get value(): T | undefined {
    return this.current?.value;
  }

  acquire(): Lease<T> | undefined {
    const entry = this.current;
    if (entry === undefined) return undefined;
    entry.uses += 1;
    let done = false;
    return {
      value: entry.value,
      release: () => {
        if (done) return;
        done = true;
        entry.uses -= 1;
        this.settle(entry);
      },
    };
  }

  /** Installs `next` (or nothing); the previous model is released once no lease holds it. */
  replace(next: T | undefined): void {
    const previous = this.current;
    this.current = next === undefined ? undefined : { value: next, uses: 0, retired: false, released: undefined };
    if (previous === undefined) return;
    previous.retired = true;
    this.retiring.add(previous);
    this.settle(previous);
  }

  /** Empties the slot and resolves when every model it ever held is released. */
  async close(): Promise<void> {
    this.replace(undefined);
    if (this.retiring.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await Promise.all(this.releases);
  }

  private settle(entry: Entry<T>): void {
    if (!entry.retired || entry.uses > 0 || entry.released !== undefined) return;
    const released = entry.value.release().catch(this.onReleaseError);
    entry.released = released;
    this.releases.add(released);
    void released.then(() => this.releases.delete(released));
    this.retiring.delete(entry);
    if (this.retiring.size === 0) this.idle?.();
  }
}
