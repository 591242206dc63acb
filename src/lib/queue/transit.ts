/**
 * Back-pressure for a producer that can wait: at most `capacity` of its items may be "in
 * transit" (sent on, not yet finished by whatever consumes them) at once. Wires in a flow have no
 * back-pressure of their own, so the consumer reports each finished item with `settle(id)`.
 *
 * An item that never reaches a consumer (a switch node filtered it out) would hold its place
 * for ever; places older than `expireMs` are therefore given back, and counted as `expired`.
 */
export class TransitLimiter {
  /** Id -> when it was sent; a Map keeps insertion order, so the first entry is the oldest. */
  private readonly inTransit = new Map<string, number>();
  private waiters: Array<() => void> = [];
  private expiredCount = 0;

  constructor(
    readonly capacity: number,
    readonly expireMs: number,
    private readonly onRelease: (id: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get count(): number {
    return this.inTransit.size;
  }

  /** Places given back because their item was never settled within expireMs. */
  get expired(): number {
    return this.expiredCount;
  }

  add(id: string): void {
    this.inTransit.set(id, this.now());
  }

  /** Returns whether `id` was in transit here. */
  settle(id: string): boolean {
    if (!this.inTransit.delete(id)) return false;
    this.onRelease(id);
    for (const wake of this.waiters.splice(0)) wake();
    return true;
  }

  /** Resolves once fewer than `capacity` (or the smaller `limit`) items are in transit, or when `signal` aborts. */
  async whenRoom(signal?: AbortSignal, limit = this.capacity): Promise<void> {
    const capacity = Math.max(1, Math.min(this.capacity, limit));
    while (this.inTransit.size >= capacity && signal?.aborted !== true) {
      const [oldestId, since] = this.inTransit.entries().next().value as [string, number];
      const wait = since + this.expireMs - this.now();
      if (wait <= 0) {
        this.inTransit.delete(oldestId);
        this.onRelease(oldestId);
        this.expiredCount += 1;
        continue;
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        const timer = setTimeout(wake, wait);
        this.waiters.push(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /** Forgets every item in transit (the producer stops); waiters go on. */
  clear(): void {
    for (const id of this.inTransit.keys()) this.onRelease(id);
    this.inTransit.clear();
    for (const wake of this.waiters.splice(0)) wake();
  }
}
