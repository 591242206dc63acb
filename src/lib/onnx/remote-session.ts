/**
 * A session that lives on a pool worker, as the main thread sees it. It keeps what it was loaded
 * from, so that when its worker dies the next run loads it again on a live worker.
 */
import * as ort from "onnxruntime-node";
import type { TensorSpec } from "./feeds";
import { sessionPool, type PoolWorker, type SessionPool } from "./worker-pool";
import { stageJob } from "./staging";
import { buffersOf, toCompactWire, type ChainStep, type ModelSource, type WireTensor } from "./worker-protocol";

let instances = 0;

/** `copies`: the feeds made compact copies of (toCompactWire), which nobody else holds. */
function wireFeeds(feeds: Record<string, ort.Tensor>, copies: WireTensor[]): Record<string, WireTensor> {
  const wire: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    wire[name] = toCompactWire(tensor);
    if (wire[name].data !== tensor.data) copies.push(wire[name]);
  }
  return wire;
}

/** Loads `source` on `worker`; a "built" source's large arrays go ahead in blocks (staging.ts). */
async function loadOn(
  pool: SessionPool,
  worker: PoolWorker,
  load: { key: string; where: string; name: string; source: ModelSource; options: ort.InferenceSession.SessionOptions },
): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
  const { source } = load;
  const sent =
    source.kind === "built"
      ? { ...source, job: await stageJob(source.job, async (block, transfer) => void (await pool.request(worker, { op: "stage", ...block }, transfer))) }
      : source;
  return pool.request(worker, { op: "load", ...load, source: sent });
}

function fromWire(wire: WireTensor): ort.Tensor {
  return new ort.Tensor(wire.type, wire.data as Float32Array, wire.dims);
}

export class RemoteSession {
  private released = false;
  private reloading: Promise<void> | undefined;
  /** Feeds kept on the worker, by token: sent again when the session moves to a new worker. */
  private readonly kept = new Map<string, Record<string, ort.Tensor>>();

  private constructor(
    private readonly pool: SessionPool,
    /** Unique per instance: a released key may be loaded again while the old one is still going. */
    private readonly key: string,
    private readonly where: string,
    private readonly name: string,
    private readonly source: ModelSource,
    private readonly options: ort.InferenceSession.SessionOptions,
    private worker: PoolWorker,
    readonly inputs: TensorSpec[],
    readonly outputs: TensorSpec[],
  ) {}

  static async open(
    cacheKey: string,
    where: string,
    name: string,
    source: ModelSource,
    options: ort.InferenceSession.SessionOptions,
    pool: SessionPool = sessionPool,
    beside?: RemoteSession,
  ): Promise<RemoteSession> {
    const key = `${cacheKey}#${++instances}`;
    // Beside another session, so that the two can run as one chain (runChain) on that worker.
    const worker = beside !== undefined && beside.worker.alive && beside.pool === pool ? pool.placeOn(beside.worker) : pool.place();
    try {
      const reply = await loadOn(pool, worker, { key, where, name, source, options });
      return new RemoteSession(pool, key, where, name, source, options, worker, reply.inputs, reply.outputs);
    } catch (error) {
      await pool.leave(worker);
      throw error;
    }
  }

  /** Runs each feed set in order on the worker, in one round trip. */
  async run(
    feeds: ReadonlyArray<Record<string, ort.Tensor>>,
    outputNames: string[] | undefined,
    options: { transferFeeds?: boolean; kept?: string },
  ): Promise<Array<Record<string, ort.Tensor>>> {
    if (!this.worker.alive) await this.reload();
    const copies: WireTensor[] = [];
    const wire = feeds.map((each) => wireFeeds(each, copies));
    // Copies are handed over, not cloned a second time: a bank's rows in blocks cost one copy, not two.
    const transfer = buffersOf(options.transferFeeds === true ? wire.flatMap((w) => Object.values(w)) : copies);
    const reply = await this.pool.request(this.worker, { op: "run", key: this.key, feeds: wire, outputNames, kept: options.kept }, transfer);
    return reply.outputs.map((each) => {
      const outputs: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(each)) outputs[name] = fromWire(tensor);
      return outputs;
    });
  }

  /**
   * Runs the sessions in turn on their worker in one exchange, each fed by the one before; null
   * when they are not all on one live worker (one of them moved after its worker died), and the
   * caller runs them one by one.
   */
  static async runChain(
    links: ReadonlyArray<{ session: RemoteSession; step: Omit<ChainStep, "key" | "feeds">; feeds: Record<string, ort.Tensor> }>,
  ): Promise<{ outputs: Record<string, ort.Tensor>; ms: number[] } | null> {
    const first = links[0]?.session;
    if (first === undefined) return null;
    const worker = first.worker;
    if (!worker.alive || links.some((l) => l.session.worker !== worker || l.session.pool !== first.pool || l.session.released)) return null;
    const copies: WireTensor[] = [];
    const steps: ChainStep[] = links.map((l) => ({ ...l.step, key: l.session.key, feeds: wireFeeds(l.feeds, copies) }));
    const reply = await first.pool.request(worker, { op: "chain", steps }, buffersOf(copies));
    const outputs: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(reply.outputs)) outputs[name] = fromWire(tensor);
    return { outputs, ms: reply.ms };
  }

  /** Copies `feeds` to the worker once; runs that name `token` use them without sending them again. */
  async keep(token: string, feeds: Record<string, ort.Tensor>): Promise<void> {
    if (!this.worker.alive) await this.reload();
    this.kept.set(token, feeds);
    const copies: WireTensor[] = [];
    await this.pool.request(this.worker, { op: "keep", key: this.key, token, feeds: wireFeeds(feeds, copies) }, buffersOf(copies));
  }

  async forget(token: string): Promise<void> {
    this.kept.delete(token);
    if (this.worker.alive) await this.pool.request(this.worker, { op: "forget", key: this.key, token }).catch(() => undefined);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.reloading?.catch(() => undefined);
    const worker = this.worker;
    // A dead worker took its sessions with it; a live one is told, and stops when it holds none.
    if (worker.alive) await this.pool.request(worker, { op: "release", key: this.key }).catch(() => undefined);
    await this.pool.leave(worker);
  }

  /** Loads the model on a live worker after its worker died; concurrent runs wait for one load. */
  private reload(): Promise<void> {
    this.reloading ??= (async () => {
      const dead = this.worker;
      const worker = this.pool.place();
      try {
        await loadOn(this.pool, worker, { key: this.key, where: this.where, name: this.name, source: this.source, options: this.options });
        for (const [token, feeds] of this.kept) {
          const copies: WireTensor[] = [];
          await this.pool.request(worker, { op: "keep", key: this.key, token, feeds: wireFeeds(feeds, copies) }, buffersOf(copies));
        }
      } catch (error) {
        await this.pool.leave(worker);
        throw error;
      }
      this.worker = worker;
      await this.pool.leave(dead);
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }
}
