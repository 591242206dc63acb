/**
 * The threads that run onnxruntime sessions for the main thread (see session-worker.ts for why).
 *
 * One pool per process, shared by every detector, as sessions are: a session lives on one worker
 * and its runs are answered there in order; a new session goes to the worker holding the fewest,
 * and a new worker is started while every worker holds one and the pool is below its size. A
 * worker holding no session is stopped, so closing or redeploying every node leaves no thread.
 *
 * A worker that dies (a crash in native code, an out-of-memory kill of the thread) fails the
 * requests it had with inferenceFailed; its sessions are loaded again on a live worker by their
 * next run, so the message that was in flight reaches Catch and the next one is served.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { DefectError } from "../errors";
import { errorFromWire, type WorkerReply, type WorkerRequest } from "./worker-protocol";

/** Two sessions rarely run at once per detector (backbone, then search); more workers than cores only contend. */
const MAX_DEFAULT_WORKERS = 4;
export const MAX_POOL_WORKERS = 64;

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(availableParallelism(), MAX_DEFAULT_WORKERS));
}

type Reply<Op extends WorkerRequest["op"]> = Extract<WorkerReply, { ok: true; op: Op }>;
/** A request without its id, which the pool assigns (Omit over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
type Request = WithoutId<WorkerRequest>;

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(error: Error): void;
}

export class PoolWorker {
  sessions = 0;
  alive = true;
  /** Set when the pool stops the worker itself, so its exit is not taken for a crash. */
  private retiring = false;
  private readonly pending = new Map<number, Pending>();
  private readonly thread: Worker;

  constructor(private readonly onExit: (worker: PoolWorker) => void) {
    this.thread = new Worker(join(__dirname, "session-worker.js"));
    // An idle worker must not keep a command-line run alive; a busy one must (see send()).
    this.thread.unref();
    this.thread.on("message", (reply: WorkerReply) => this.settle(reply));
    this.thread.on("error", (error: Error) => this.fail(`the inference worker failed: ${error.message}`));
    this.thread.on("exit", (code) => {
      if (!this.retiring) this.fail(`the inference worker stopped unexpectedly (exit code ${code}); the next message is served by a new one`);
      this.alive = false;
      this.onExit(this);
    });
  }

  get threadId(): number {
    return this.thread.threadId;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  send<Op extends WorkerRequest["op"]>(id: number, request: Request & { op: Op }, transfer: ArrayBuffer[] = []): Promise<Reply<Op>> {
    if (!this.alive) return Promise.reject(this.stopped("the inference worker has stopped"));
    return new Promise<WorkerReply>((resolve, reject) => {
      if (this.pending.size === 0) this.thread.ref();
      this.pending.set(id, { resolve, reject });
      this.thread.postMessage({ ...request, id }, transfer);
    }).then((reply) => {
      if (!reply.ok) throw errorFromWire(reply.error);
      return reply as Reply<Op>;
    });
  }

  /**
   * Ends the worker as a crash would (fault tests): what it had in flight fails, its sessions move
   * on their next run. It asks the worker to exit rather than terminating it, because a thread
   * terminated inside onnxruntime's native code aborts the whole process.
   */
  kill(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.thread.once("exit", () => resolve()));
    if (this.alive) this.thread.postMessage({ op: "exit", id: 0 });
    return exited;
  }

  async retire(): Promise<void> {
    this.retiring = true;
    this.alive = false;
    await this.thread.terminate();
  }

  private settle(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.thread.unref();
    pending.resolve(reply);
  }

  private fail(message: string): void {
    this.alive = false;
    const error = this.stopped(message);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private stopped(message: string): DefectError {
    return new DefectError("inferenceFailed", message, { threadId: this.thread.threadId });
  }
}

function checkedSize(workers: number): number {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_POOL_WORKERS) {
    throw new DefectError("invalidOption", `workers must be an integer from 1 to ${MAX_POOL_WORKERS} (got ${String(workers)})`, {
      option: "workers",
      value: String(workers),
    });
  }
  return workers;
}

export class SessionPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private base = defaultWorkerCount();
  /** Sizes asked for by nodes (their editor's Workers field), by node id. */
  private readonly demands = new Map<string, number>();

  /** The size when no node asks for one; workers above a lowered size stop when their sessions go. */
  resize(workers: number): void {
    this.base = checkedSize(workers);
  }

  /** `owner` (a node) asks for `workers` threads, or withdraws its request with undefined; the largest request wins. */
  demand(owner: string, workers: number | undefined): void {
    if (workers === undefined) this.demands.delete(owner);
    else this.demands.set(owner, checkedSize(workers));
  }

  /** The most workers the pool starts. */
  get maxWorkers(): number {
    return this.demands.size === 0 ? this.base : Math.max(...this.demands.values());
  }

  /** The live workers, for leak checks and fault tests. */
  get live(): readonly PoolWorker[] {
    return this.workers.filter((w) => w.alive);
  }

  /** Picks the worker a new session goes to and counts the session there. */
  place(): PoolWorker {
    const live = this.live;
    const fewest = live.reduce<PoolWorker | undefined>((best, w) => (best === undefined || w.sessions < best.sessions ? w : best), undefined);
    const worker = fewest !== undefined && (fewest.sessions === 0 || live.length >= this.maxWorkers) ? fewest : this.start();
    worker.sessions += 1;
    return worker;
  }

  /** Counts a new session on `worker`, which is alive (a model chained to one already there). */
  placeOn(worker: PoolWorker): PoolWorker {
    worker.sessions += 1;
    return worker;
  }

  /** A session left `worker`: a worker with none left is stopped. */
  async leave(worker: PoolWorker): Promise<void> {
    worker.sessions -= 1;
    if (worker.sessions <= 0 && worker.alive) {
      this.remove(worker);
      await worker.retire();
    }
  }

  request<Op extends WorkerRequest["op"]>(worker: PoolWorker, request: Request & { op: Op }, transfer?: ArrayBuffer[]): Promise<Reply<Op>> {
    return worker.send<Op>(this.nextId++, request, transfer);
  }

  private start(): PoolWorker {
    const worker = new PoolWorker((w) => this.remove(w));
    this.workers.push(worker);
    return worker;
  }

  private remove(worker: PoolWorker): void {
    const i = this.workers.indexOf(worker);
    if (i !== -1) this.workers.splice(i, 1);
  }
}

/** The process's pool. */
export const sessionPool = new SessionPool();
