/**
 * The main-thread side of a template detector's worker (template-worker.ts says why there is
 * one): it starts the worker on the shared references, sends it parts and hands back their
 * maps. A worker that dies fails the inspections it held with inferenceFailed (each reaches
 * Catch with its message); the next inspection starts a new worker on the same shared memory.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { DefectError } from "../../errors";
import type { FailureReply, InspectRequest, TemplateWorkerData, WorkerReply } from "./template-protocol";

export type Inspected = Extract<WorkerReply, { kind: "inspected"; ok: true }>;

interface Pending {
  worker: Worker;
  resolve(reply: Inspected): void;
  reject(error: Error): void;
}

/** Workers of every template model in the process, until they exit. */
const live = new Set<Worker>();

/** How many template comparison workers are running (tests check that closing a node ends them). */
export function liveTemplateWorkers(): number {
  return live.size;
}

function errorOf(reply: FailureReply): Error {
  return reply.code === undefined ? new Error(reply.message) : new DefectError(reply.code, reply.message, reply.details);
}

export class TemplateThread {
  private current: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private released = false;

  private constructor(
    private readonly data: TemplateWorkerData,
    private readonly file: string,
  ) {}

  /** Resolves once the worker holds the references (thumbnails made), so a bad set fails here. */
  static async start(data: TemplateWorkerData, file = join(__dirname, "template-worker.js")): Promise<TemplateThread> {
    const thread = new TemplateThread(data, file);
    await thread.ensure();
    return thread;
  }

  /** The running worker, if any (diagnostics and tests: a test ends one to see it replaced). */
  get worker(): Worker | undefined {
    return this.current;
  }

  /** Compares the part's gray plane (transferred: `plane` is unusable afterwards). */
  async inspect(plane: Float32Array): Promise<Inspected> {
    for (;;) {
      const worker = await this.ensure();
      // The worker may have died while this call waited for it: start another then.
      if (worker !== this.current) continue;
      const id = this.nextId++;
      return new Promise<Inspected>((resolve, reject) => {
        this.pending.set(id, { worker, resolve, reject });
        const request: InspectRequest = { id, plane };
        worker.postMessage(request, [plane.buffer as ArrayBuffer]);
      });
    }
  }

  async release(): Promise<void> {
    this.released = true;
    const worker = this.current ?? (await this.starting?.catch(() => undefined));
    this.current = undefined;
    await worker?.terminate();
  }

  private ensure(): Promise<Worker> {
    if (this.released) return Promise.reject(new DefectError("inferenceFailed", "the template model was released (the node was redeployed or shut down)"));
    if (this.current !== undefined) return Promise.resolve(this.current);
    this.starting ??= this.spawn().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    return new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(this.file, { workerData: this.data });
      live.add(worker);
      let ready = false;
      worker.on("message", (reply: WorkerReply) => {
        if (reply.kind === "ready") {
          ready = true;
          this.current = worker;
          resolve(worker);
        } else if (reply.kind === "started-failed") {
          reject(errorOf(reply));
          void worker.terminate();
        } else {
          this.settle(reply);
        }
      });
      const died = (error: Error): void => {
        if (this.current === worker) this.current = undefined;
        if (!ready) reject(error);
        for (const [id, entry] of this.pending) {
          if (entry.worker !== worker) continue;
          this.pending.delete(id);
          entry.reject(error);
        }
      };
      worker.once("error", (error) => died(new DefectError("inferenceFailed", `the template comparison worker failed: ${error.message}`)));
      worker.once("exit", (code) => {
        live.delete(worker);
        died(
          this.released
            ? new DefectError("inferenceFailed", "the template model was released (the node was redeployed or shut down)")
            : new DefectError("inferenceFailed", `the template comparison worker stopped unexpectedly (exit code ${code}); the next image starts a new one`),
        );
      });
    });
  }

  private settle(reply: Extract<WorkerReply, { kind: "inspected" }>): void {
    const entry = this.pending.get(reply.id);
    if (entry === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) entry.resolve(reply);
    else entry.reject(errorOf(reply));
  }
}
