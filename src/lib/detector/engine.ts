/**
 * The detector's state machine, free of Node-RED: learning rounds, fits, the saved model and
 * the model answering inspections.
 *
 * Learning, fitting and reset run one at a time, in arrival order, on a queue. Inspections do
 * not wait for that queue: they lease whatever model is installed, so a fit running for minutes
 * never holds them up, and the fitted model replaces the previous one only when it is complete.
 */
import { setTimeout as delay } from "node:timers/promises";
import { DefectError, isDefectError } from "../errors";
import { deleteFile } from "../persist";
import type { DriftReport } from "./online/drift";
import { ModelSlot, type Lease } from "./storage/model-slot";
import { DEFAULT_KEEP_VERSIONS, incomingPath, ModelVersions } from "./storage/model-versions";
import { DEFAULT_ONLINE_CONFIG, isOnline, OnlineLearner, type ConfirmAnswer, type Confirmation, type OnlineConfig } from "./online/online-learner";
import type { DetectorModel, DetectorState, HandedCalibration, Inspection, LearningRound, MethodHandle, ModelInfo, OnlineCounts, Sample } from "./types";

export interface EngineOptions {
  /** Learned images after which a round is fitted without being asked. */
  trainCount: number;
  /** Where a learning method's model is saved and loaded. */
  modelPath: string;
  /** Previous versions of the saved model kept for rollback (default 5). */
  keepVersions?: number;
  /** Learning on the line (PatchCore): parts remembered, drift window and ratio. */
  online?: OnlineConfig;
  /** Whether learning (msg.learn, confirmations) is on at start (default true). */
  learning?: boolean;
  onState(state: DetectorState): void;
  /** A model failed to release (logged, never thrown: it happens after the work it did). */
  onReleaseError(error: unknown): void;
}

/** What a fit ends with: the model now answering, and the good scores it hands over (PatchCore). */
export interface FitAnswer {
  model: ModelInfo;
  calibration?: HandedCalibration;
}

export interface LearnProgress {
  count: number;
  total: number;
  /** Present when this sample completed the round: the model now answering. */
  model?: ModelInfo;
  /** With `model`, where the method scores good parts it did not learn from. */
  calibration?: HandedCalibration;
}

export interface LabelledSample {
  sample: Sample;
  label: string;
}

export interface InspectionResult extends Inspection {
  model: ModelInfo;
  /** Models that learn on the line: the drift indicator. */
  drift?: DriftReport;
}

/** What the editor shows of learning: the counts are null without a model that learns on the line. */
export interface LearningState {
  learning: boolean;
  method: string;
  counts: OnlineCounts | null;
  drift: DriftReport | null;
  /** Inspections remembered for a later verdict. */
  recentParts: number;
  /** What the model answering now was fitted on (images, variants); null before any fit. */
  model: ModelInfo | null;
}

export class DetectorEngine {
  private readonly slot: ModelSlot<DetectorModel>;
  private round: LearningRound | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private fitting: number | undefined;
  private blocked: DefectError | undefined;
  private closed = false;
  /** Aborted on close: stops a running fit instead of waiting for it. */
  private readonly stop = new AbortController();
  private readonly versions: ModelVersions;
  private readonly learner: OnlineLearner;
  private learningOn: boolean;

  private constructor(
    private readonly method: MethodHandle,
    private readonly options: EngineOptions,
  ) {
    this.slot = new ModelSlot(options.onReleaseError);
    this.versions = new ModelVersions(options.modelPath, options.keepVersions ?? DEFAULT_KEEP_VERSIONS);
    this.learningOn = options.learning ?? true;
    const queue = <T>(job: () => Promise<T>): Promise<T> => this.exclusive(job);
    this.learner = new OnlineLearner(options.online ?? DEFAULT_ONLINE_CONFIG, this.versions, queue, () => this.slot.value, options.onReleaseError);
  }

  /**
   * Installs the method's model: the fixed one, or the saved one. A saved model that cannot be
   * used blocks learning (so it is never overwritten) until reset.
   */
  static async open(method: MethodHandle, options: EngineOptions): Promise<DetectorEngine> {
    const engine = new DetectorEngine(method, options);
    if (method.kind === "fixed") {
      engine.slot.replace(method.model);
    } else {
      try {
        engine.slot.replace(await method.load(options.modelPath));
      } catch (error) {
        if (!isDefectError(error)) throw error;
        if (error.code !== "fileNotFound") engine.blocked = error;
      }
    }
    engine.emit();
    return engine;
  }

  get state(): DetectorState {
    if (this.blocked !== undefined) return { kind: "blocked", error: this.blocked };
    if (this.fitting !== undefined) return { kind: "fitting", count: this.fitting };
    if (this.round !== undefined && this.round.count > 0) return { kind: "learning", count: this.round.count, total: this.options.trainCount };
    return this.slot.value === undefined ? { kind: "untrained" } : { kind: "ready" };
  }

  get methodName(): string {
    return this.method.method;
  }

  /** `partId`: remember the part's features for a later verdict (models that learn on the line). */
  async inspect(sample: Sample, partId?: string): Promise<InspectionResult> {
    const lease = this.lease();
    try {
      const model = lease.value;
      model.check(sample);
      const inspection = isOnline(model) ? await this.learner.inspect(model, sample, partId) : await model.inspect(sample.tensor, sample.transform);
      return { ...inspection, model: model.info };
    } finally {
      lease.release();
    }
  }

  /** An operator's verdict on an inspected part (or an image): it goes to the good or defect bank. */
  async confirm(request: Confirmation): Promise<ConfirmAnswer> {
    this.requireLearningOn();
    const lease = this.lease();
    try {
      const model = lease.value;
      if (!isOnline(model)) {
        throw new DefectError("learningUnsupported", `method ${this.method.method} cannot learn confirmed parts on the line (PatchCore can)`, {
          method: this.method.method,
        });
      }
      return await this.learner.confirm(model, request);
    } finally {
      lease.release();
    }
  }

  /** Restores the previous saved version, byte for byte, and answers with it. */
  rollback(): Promise<ModelInfo | null> {
    return this.exclusive(async () => {
      const method = this.learningMethod();
      if (!(await this.versions.rollback())) {
        const path = this.versions.history[0] ?? this.options.modelPath;
        throw new DefectError("noPreviousVersion", `there is no previous version to roll back to (${path} does not exist)`, { path });
      }
      this.blocked = undefined;
      try {
        this.slot.replace(await method.load(this.options.modelPath));
      } catch (error) {
        if (!isDefectError(error)) throw error;
        this.slot.replace(undefined);
        this.blocked = error;
      } finally {
        this.emit();
      }
      return this.slot.value?.info ?? null;
    });
  }

  /**
   * Takes the model waiting at `<id>.incoming.ddm` (written there by a model share): it is loaded
   * and checked as a saved model is (checksum, format, learned with the same backbone, layers and
   * method: modelMismatch otherwise) and only then becomes the saved model (the present one kept
   * for rollback) and the one answering, in one step between two inspections. A file that fails
   * is deleted and the model in use stays: nothing half-loaded is ever used.
   */
  reload(): Promise<ModelInfo | null> {
    return this.exclusive(async () => {
      const method = this.learningMethod();
      const incoming = incomingPath(this.options.modelPath);
      let model: DetectorModel;
      try {
        model = await method.load(incoming);
      } catch (error) {
        await deleteFile(incoming).catch(() => undefined);
        throw error;
      }
      try {
        await this.versions.adopt(incoming);
      } catch (error) {
        await model.release();
        throw error;
      }
      this.blocked = undefined;
      this.slot.replace(model);
      this.learner.recent.clear();
      this.emit();
      return model.info;
    });
  }

  /** Starts or stops learning: while stopped, learned images and verdicts are refused. */
  setLearning(on: boolean): void {
    this.learningMethod();
    this.learningOn = on;
    this.emit();
  }

  get learning(): LearningState {
    const model = this.slot.value;
    const online = model !== undefined && isOnline(model) ? model.online : undefined;
    return {
      learning: this.learningOn && this.method.kind === "learning",
      method: this.method.method,
      counts: online?.counts() ?? null,
      drift: online === undefined ? null : this.learner.drift(online),
      recentParts: this.learner.recent.size,
      model: model?.info ?? null,
    };
  }

  /** Resolves once background refreshes are done and every confirmed part is saved. */
  async settled(): Promise<void> {
    const model = this.slot.value;
    if (model !== undefined && isOnline(model)) await this.learner.idle(model.online);
  }

  /** Adds a good image; the image that completes the round waits for the fit. */
  learn(sample: Sample): Promise<LearnProgress> {
    this.requireLearningOn();
    return this.exclusive(async () => {
      const round = await this.openRound();
      // A round replaces the model, so it must be comparable with it: one stray image of another
      // size must not start a round that then rejects every right image. Reset to change sizes.
      this.slot.value?.check(sample);
      await round.add(sample);
      const progress = { count: round.count, total: this.options.trainCount };
      if (round.count < this.options.trainCount) {
        this.emit();
        return progress;
      }
      return { ...progress, ...(await this.fitRound()) };
    });
  }

  /**
   * Learns every sample as one round, whatever trainCount says, then fits once. A sample the
   * round rejects is reported with its label (e.g. a file name) and skipped.
   */
  learnAll(samples: AsyncIterable<LabelledSample>, onSkip: (error: unknown, label: string) => void): Promise<FitAnswer> {
    return this.exclusive(async () => {
      const round = await this.openRound();
      for await (const { sample, label } of samples) {
        if (this.closed) break;
        try {
          await round.add(sample);
          this.emit();
        } catch (error) {
          onSkip(error, label);
        }
      }
      return this.fitRound();
    });
  }

  /** Fits what the current round has, however few. */
  fit(): Promise<FitAnswer> {
    return this.exclusive(async () => {
      this.requireLearning();
      if (this.round === undefined || this.round.count === 0) {
        throw new DefectError("notTrained", "nothing to fit: no good image has been learned since the last fit", { count: 0 });
      }
      return this.fitRound();
    });
  }

  /** Forgets the round and the model and deletes the saved file; resolves whether there was one. */
  reset(): Promise<boolean> {
    return this.exclusive(async () => {
      this.learningMethod();
      await this.round?.release();
      this.round = undefined;
      this.blocked = undefined;
      this.slot.replace(undefined);
      this.learner.recent.clear();
      try {
        // Kept as the newest previous version: a reset can be rolled back too.
        return await this.versions.discard();
      } finally {
        this.emit();
      }
    });
  }

  /**
   * Stops a running fit (its worker is terminated), fails what is still queued, waits up to
   * `waitMs` for the work in progress to wind down, then releases everything. Work still running
   * after that is abandoned: it discards its result, releases what it holds when it ends, and
   * never writes the model file (a redeployed node may be reading it by then).
   */
  async close(waitMs: number): Promise<void> {
    this.closed = true;
    this.stop.abort();
    const drained = this.queue.then(() => true);
    const timeout = new AbortController();
    const expired = delay(waitMs, false, { signal: timeout.signal }).catch(() => false);
    const finished = await Promise.race([drained, expired]);
    timeout.abort();
    const releaseRest = async (): Promise<void> => {
      await this.round?.release();
      this.round = undefined;
      await this.method.release();
    };
    await this.slot.close();
    if (finished) await releaseRest();
    else void drained.then(releaseRest).catch(this.options.onReleaseError);
  }

  private lease(): Lease<DetectorModel> {
    const lease = this.slot.acquire();
    if (lease === undefined) {
      throw this.blocked ?? new DefectError("notTrained", "no model yet: learn good images first (msg.learn = true)", { trainCount: this.options.trainCount });
    }
    return lease;
  }

  private requireLearningOn(): void {
    this.learningMethod();
    if (!this.learningOn) {
      throw new DefectError("learningStopped", 'learning is stopped: send msg.command "start-learning" (or use the editor) to learn again', {
        method: this.method.method,
      });
    }
  }

  private learningMethod(): Extract<MethodHandle, { kind: "learning" }> {
    if (this.method.kind !== "learning") {
      throw new DefectError("learningUnsupported", `method ${this.method.method} uses a model trained elsewhere and cannot learn in the flow`, {
        method: this.method.method,
      });
    }
    return this.method;
  }

  private requireLearning(): Extract<MethodHandle, { kind: "learning" }> {
    const method = this.learningMethod();
    if (this.blocked !== undefined) throw this.blocked;
    return method;
  }

  private async openRound(): Promise<LearningRound> {
    const method = this.requireLearning();
    this.round ??= await method.startRound();
    return this.round;
  }

  /** Fits the current round; the next learned image starts a new one. */
  private async fitRound(): Promise<FitAnswer> {
    const round = this.round as LearningRound;
    this.round = undefined;
    this.fitting = round.count;
    this.emit();
    try {
      const fitted = await round.fit(this.stop.signal);
      const answer = { model: fitted.model.info, ...(fitted.calibration === undefined ? {} : { calibration: fitted.calibration }) };
      if (this.closed) {
        await fitted.model.release();
        return answer;
      }
      this.slot.replace(fitted.model);
      await this.versions.commit((path) => fitted.save(path));
      return answer;
    } finally {
      await round.release();
      this.fitting = undefined;
      this.emit();
    }
  }

  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new DefectError("inferenceFailed", "the detector was stopped (redeployed or shut down) before this message was handled");
      return job();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emit(): void {
    if (!this.closed) this.options.onState(this.state);
  }
}
