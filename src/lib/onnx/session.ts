/**
 * Shared onnxruntime sessions. A model is loaded once per (model, options) and shared by
 * every node that uses it, because a session holds the weights and its thread pool; the
 * last holder to release it frees them.
 */
import "./offline";
import { promises as fs } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { availableParallelism } from "node:os";
import { isMainThread } from "node:worker_threads";
import { DefectError } from "../errors";
import { type TensorSpec, validateFeeds } from "./feeds";
import { describeSession, loadSession, runSession } from "./local-session";
import { loadable } from "./model-source";
import { RemoteSession } from "./remote-session";
import type { BuildJob, ModelSource } from "./worker-protocol";

export type { TensorSpec } from "./feeds";

const MIN_THREADS = 1;
const MAX_THREADS = 64;
/**
 * ORT's logger severity "fatal": its errors reach callers as DefectErrors anyway, and its own
 * copy on stderr would show every bad image twice in the Node-RED log.
 */
const ORT_LOG_FATAL_ONLY = 4;

export interface SessionOptions {
  /** Threads for one operator; one a core (defaultIntraOpThreads) when omitted. */
  intraOpThreads?: number;
}

/**
 * One a core, stated rather than left to onnxruntime: on the 2-core development machines its own
 * choice ran one thread, and the ResNet-50 backbone took 47 ms a run against 34 ms on two
 * (BENCHMARKS.md).
 */
export function defaultIntraOpThreads(): number {
  return Math.min(availableParallelism(), MAX_THREADS);
}

export interface ModelHandle {
  /** Absolute model path, or the cache key of a model built in memory. */
  readonly path: string;
  /** Short name used in messages: the file name, or the key. */
  readonly name: string;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  run(feeds: Record<string, ort.Tensor>, outputNames?: string[], options?: RunOptions): Promise<Record<string, ort.Tensor>>;
  /** Runs each set of feeds in turn, in one exchange with the model's thread (e.g. a search in blocks of queries). */
  runEach(feedsList: ReadonlyArray<Record<string, ort.Tensor>>, outputNames?: string[], options?: RunOptions): Promise<Array<Record<string, ort.Tensor>>>;
  /** Keeps `feeds` beside the model (on its worker) until released: for large inputs that are the same every run. */
  keep(feeds: Record<string, ort.Tensor>): Promise<KeptFeeds>;
  /** Idempotent, so a node's close handler may call it whatever happened before. */
  release(): Promise<void>;
}

/** The options a handle's run takes beyond feeds and output names. */
export interface RunOptions {
  /**
   * Hand the feeds' buffers to the thread that runs the model instead of copying them: faster for
   * large feeds, but the caller's arrays are empty afterwards. Only for feeds nobody reads again.
   */
  transferFeeds?: boolean;
  /** Feeds kept beside the model by `keep`, added to this run's. */
  kept?: KeptFeeds;
}

/** Feeds that stay beside a model for many runs (large constants), so they are not sent each time. */
export interface KeptFeeds {
  readonly token: string;
  /** The kept feeds' names, types and shapes (checked with each run's feeds). */
  readonly feeds: Readonly<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

interface LoadedModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The worker session behind it, on the main thread (for placement and chains). */
  remote?: RemoteSession;
  run(
    feedsList: ReadonlyArray<Record<string, ort.Tensor>>,
    outputNames: string[] | undefined,
    options: { transferFeeds?: boolean; kept?: string },
  ): Promise<Array<Record<string, ort.Tensor>>>;
  keep(token: string, feeds: Record<string, ort.Tensor>): Promise<void>;
  forget(token: string): Promise<void>;
  release(): Promise<void>;
}

let keptTokens = 0;

interface CacheEntry {
  /** Cached as a promise so concurrent acquires of one model wait for the same load. */
  loaded: Promise<LoadedModel>;
  refs: number;
  /** Runs in flight, so the session is not freed under them. */
  running: Set<Promise<unknown>>;
}

const cache = new Map<string, CacheEntry>();
/** What each handle runs on, for chains and placement beside it. */
const loadedOf = new WeakMap<ModelHandle, LoadedModel>();
const releasedHandles = new WeakSet<ModelHandle>();
/** Counted apart from the cache so that a session the cache lost track of still shows up. */
let liveSessions = 0;

/** Number of loaded sessions not yet released. */
export function openSessionCount(): number {
  return liveSessions;
}

export async function acquireModel(modelPath: string, options: SessionOptions = {}): Promise<ModelHandle> {
  const ortOptions = toOrtOptions(options);
  const absolute = path.resolve(modelPath);
  const key = `file:${absolute}|${optionsKey(options)}`;
  const name = path.basename(absolute);
  return acquire(key, absolute, name, async () => {
    await assertModelFile(absolute);
    return loadModel(key, absolute, name, { kind: "file", path: absolute }, ortOptions);
  });
}

/**
 * A model built in memory; `key` names it in the cache and in messages, so one key must
 * always stand for the same bytes (a cached session is reused without looking at them).
 */
export async function acquireModelFromBytes(key: string, bytes: Uint8Array, options: SessionOptions = {}, placement: Placement = {}): Promise<ModelHandle> {
  const ortOptions = toOrtOptions(options);
  const cacheKey = `bytes:${key}|${optionsKey(options)}`;
  const beside = placement.beside === undefined ? undefined : loadedOf.get(placement.beside)?.remote;
  return acquire(cacheKey, key, key, () => loadModel(cacheKey, key, key, { kind: "bytes", bytes }, ortOptions, beside));
}

/**
 * A model whose bytes `buildModel(job)` of the module at `builder` makes on the thread that loads
 * it (a session worker), not here: for graphs with large constants. `key` must always stand for
 * the same job, as with acquireModelFromBytes.
 */
export async function acquireBuiltModel(
  key: string,
  builder: string,
  job: BuildJob,
  options: SessionOptions = {},
  placement: Placement = {},
): Promise<ModelHandle> {
  const ortOptions = toOrtOptions(options);
  const cacheKey = `built:${key}|${optionsKey(options)}`;
  const beside = placement.beside === undefined ? undefined : loadedOf.get(placement.beside)?.remote;
  return acquire(cacheKey, key, key, () => loadModel(cacheKey, key, key, { kind: "built", builder, job }, ortOptions, beside));
}

export interface Placement {
  /** Load the model on the worker that runs this one, so the two can run as a chain (runChain). */
  beside?: ModelHandle;
}

/** One model of a chain: its own feeds, and inputs taken from the previous model's outputs. */
export interface ChainLink {
  model: ModelHandle;
  feeds?: Record<string, ort.Tensor>;
  /** Input name -> output name of the previous link. */
  from?: Readonly<Record<string, string>>;
  outputNames?: string[];
  kept?: KeptFeeds;
}

/**
 * Runs the models in turn, each fed by the one before, and answers with the last one's outputs
 * and each run's milliseconds. Models loaded beside each other run in one exchange with their
 * worker, so the tensors between them (a backbone's feature maps) never cross threads; otherwise
 * (one moved after its worker died) they run one by one, with the same results.
 */
export async function runChain(links: readonly ChainLink[]): Promise<{ outputs: Record<string, ort.Tensor>; ms: number[] }> {
  const loaded = links.map((link) => {
    const model = loadedOf.get(link.model);
    if (model === undefined || releasedHandles.has(link.model)) {
      throw new DefectError("inferenceFailed", `model "${link.model.name}" was already released`, { model: link.model.name });
    }
    validateFeeds(link.model.name, model.inputs, { ...link.kept?.feeds, ...link.feeds }, { partial: link.from !== undefined });
    for (const input of Object.keys(link.from ?? {})) {
      if (!model.inputs.some((i) => i.name === input))
        throw new DefectError("invalidOption", `model "${link.model.name}" has no input "${input}"`, { model: link.model.name, input });
    }
    return model;
  });
  const remotes = loaded.map((m) => m.remote);
  if (remotes.every((r): r is RemoteSession => r !== undefined)) {
    const chained = await RemoteSession.runChain(
      links.map((link, i) => ({
        session: remotes[i] as RemoteSession,
        feeds: link.feeds ?? {},
        step: { from: { ...link.from }, outputNames: link.outputNames, kept: link.kept?.token },
      })),
    );
    if (chained !== null) return chained;
  }
  let previous: Record<string, ort.Tensor> = {};
  const ms: number[] = [];
  for (const link of links) {
    const feeds: Record<string, ort.Tensor> = { ...link.feeds };
    for (const [input, output] of Object.entries(link.from ?? {})) {
      const tensor = previous[output];
      if (tensor === undefined)
        throw new DefectError("inferenceFailed", `the model before "${link.model.name}" has no output "${output}"`, { model: link.model.name, output });
      feeds[input] = tensor;
    }
    const started = performance.now();
    // The previous outputs are fresh and read by nobody else: hand them over.
    previous = await link.model.run(feeds, link.outputNames, {
      transferFeeds: link.from !== undefined,
      ...(link.kept === undefined ? {} : { kept: link.kept }),
    });
    ms.push(performance.now() - started);
  }
  return { outputs: previous, ms };
}

async function acquire(key: string, modelPath: string, name: string, load: () => Promise<LoadedModel>): Promise<ModelHandle> {
  let entry = cache.get(key);
  if (entry === undefined) {
    const created: CacheEntry = { loaded: load(), refs: 0, running: new Set() };
    created.loaded.then(
      () => {
        liveSessions += 1;
      },
      // A failed load is forgotten so that a later acquire (after the file is fixed) retries.
      () => {
        if (cache.get(key) === created) cache.delete(key);
      },
    );
    cache.set(key, created);
    entry = created;
  }
  entry.refs += 1;
  let model: LoadedModel;
  try {
    model = await entry.loaded;
  } catch (error) {
    entry.refs -= 1;
    throw error;
  }
  return createHandle(key, entry, model, modelPath, name);
}

function createHandle(key: string, entry: CacheEntry, model: LoadedModel, modelPath: string, name: string): ModelHandle {
  let released = false;
  const runEach: ModelHandle["runEach"] = async (feedsList, outputNames, options = {}) => {
    if (released) throw new DefectError("inferenceFailed", `model "${name}" was already released`, { model: name });
    for (const feeds of feedsList) validateFeeds(name, model.inputs, { ...options.kept?.feeds, ...feeds });
    for (const output of outputNames ?? []) {
      if (!model.outputs.some((o) => o.name === output)) {
        const available = model.outputs.map((o) => o.name).join(", ");
        throw new DefectError("invalidOption", `model "${name}" has no output "${output}" (its outputs: ${available})`, {
          model: name,
          output,
          expected: available,
        });
      }
    }
    const running = model.run(feedsList, outputNames, { transferFeeds: options.transferFeeds, kept: options.kept?.token });
    entry.running.add(running);
    try {
      return await running;
    } finally {
      entry.running.delete(running);
    }
  };
  const handle: ModelHandle = {
    path: modelPath,
    name,
    // Copies, so one holder editing its specs cannot change what another holder sees.
    inputs: copySpecs(model.inputs),
    outputs: copySpecs(model.outputs),
    run: async (feeds, outputNames, options) => (await runEach([feeds], outputNames, options))[0] as Record<string, ort.Tensor>,
    runEach,
    async keep(feeds) {
      if (released) throw new DefectError("inferenceFailed", `model "${name}" was already released`, { model: name });
      validateFeeds(name, model.inputs, feeds, { partial: true });
      const token = `kept-${++keptTokens}`;
      await model.keep(token, feeds);
      let forgotten = false;
      return {
        token,
        feeds,
        async release() {
          if (forgotten) return;
          forgotten = true;
          await model.forget(token);
        },
      };
    },
    async release() {
      if (released) return;
      released = true;
      releasedHandles.add(handle);
      entry.refs -= 1;
      if (entry.refs > 0) return;
      if (cache.get(key) === entry) cache.delete(key);
      liveSessions -= 1;
      await Promise.allSettled(entry.running);
      await model.release();
    },
  };
  loadedOf.set(handle, model);
  return handle;
}

async function assertModelFile(absolute: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await fs.stat(absolute)).isFile();
  } catch (error) {
    throw new DefectError("modelNotFound", `model file not found: ${absolute}`, { path: absolute }, { cause: error });
  }
  if (!isFile) throw new DefectError("modelNotFound", `model path is not a file: ${absolute}`, { path: absolute });
}

/**
 * On the main thread a model runs on a session worker (worker-pool.ts), so that Node-RED's event
 * loop never waits for onnxruntime; a thread that is a worker already runs it in place.
 */
async function loadModel(
  key: string,
  where: string,
  name: string,
  source: ModelSource,
  options: ort.InferenceSession.SessionOptions,
  beside?: RemoteSession,
): Promise<LoadedModel> {
  if (isMainThread) {
    const remote = await RemoteSession.open(key, where, name, source, options, undefined, beside);
    return {
      inputs: remote.inputs,
      outputs: remote.outputs,
      remote,
      run: (feedsList, outputNames, runOptions) => remote.run(feedsList, outputNames, runOptions),
      keep: (token, feeds) => remote.keep(token, feeds),
      forget: (token) => remote.forget(token),
      release: () => remote.release(),
    };
  }
  const session = await loadSession(where, loadable(source), options);
  const kept = new Map<string, Record<string, ort.Tensor>>();
  return {
    ...describeSession(session),
    async run(feedsList, outputNames, runOptions) {
      const constant = runOptions.kept === undefined ? {} : kept.get(runOptions.kept);
      const outputs: Array<Record<string, ort.Tensor>> = [];
      for (const feeds of feedsList) outputs.push(await runSession(session, name, { ...constant, ...feeds }, outputNames));
      return outputs;
    },
    keep: async (token, feeds) => void kept.set(token, feeds),
    forget: async (token) => void kept.delete(token),
    release: () => session.release(),
  };
}

function copySpecs(specs: readonly TensorSpec[]): TensorSpec[] {
  return specs.map((spec) => ({ ...spec, shape: [...spec.shape] }));
}

/**
 * onnxruntime's worker threads spin for a while after each run, waiting for the next. An inspection
 * runs several sessions in turn (backbone, patch head, nearest-neighbour search), each with its own
 * thread pool, so on a 2-core machine the pool that just finished spins on the cores the next one
 * needs: measured backbone + head + search per image 121 ms with spinning, 58 ms without
 * (BENCHMARKS.md). Threads that sleep when idle cost nothing measurable on a single session.
 */
const NO_SPINNING = { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } as const;

/** The onnxruntime options the package runs every session with (also what benchmarks compare against). */
export function toOrtOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  const threads = options.intraOpThreads ?? defaultIntraOpThreads();
  const common = { logSeverityLevel: ORT_LOG_FATAL_ONLY, extra: NO_SPINNING } as const;
  if (!Number.isInteger(threads) || threads < MIN_THREADS || threads > MAX_THREADS) {
    throw new DefectError("invalidOption", `intraOpThreads must be an integer from ${MIN_THREADS} to ${MAX_THREADS} (got ${String(threads)})`, {
      option: "intraOpThreads",
      value: String(threads),
    });
  }
  return { ...common, intraOpNumThreads: threads };
}

function optionsKey(options: SessionOptions): string {
  return `threads=${options.intraOpThreads ?? "auto"}`;
}
