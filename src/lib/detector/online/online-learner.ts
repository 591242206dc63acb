/**
 * Learning on the line: inspected parts are remembered by part id, an operator's verdict puts
 * the part's features in the good or the defect bank, every change is saved as a new version,
 * and the drift indicator follows the scores of confirmed-good parts.
 *
 * Confirmations are batched: a verdict is queued in the model at once, and one save (flush the
 * queue into the bank, write the file) runs on the engine's queue for all verdicts that arrived
 * before it started; each verdict is answered after the save that holds it.
 */
import { DefectError, isDefectError } from "../../errors";
import type { DefectRegion } from "../../message";
import { partGeometry, regionGrid } from "./defect-region";
import { DEFAULT_DRIFT_RATIO, DEFAULT_DRIFT_WINDOW, driftReport, recordGoodScore, type DriftReport } from "./drift";
import type { ModelVersions } from "../storage/model-versions";
import { DEFAULT_RECENT_PARTS, RecentParts, type RememberedPart } from "./recent-parts";
import type { DetectorModel, HandedCalibration, Inspection, OnlineCounts, OnlineModel, Sample, Verdict } from "../types";

export interface OnlineConfig {
  /** Inspections remembered by part id (M). */
  recentParts: number;
  /** Confirmed-good parts in the drift window (W). */
  driftWindow: number;
  /** Drift ratio above which the status warns. */
  driftRatio: number;
}

export const DEFAULT_ONLINE_CONFIG: Readonly<OnlineConfig> = Object.freeze({
  recentParts: DEFAULT_RECENT_PARTS,
  driftWindow: DEFAULT_DRIFT_WINDOW,
  driftRatio: DEFAULT_DRIFT_RATIO,
});

export interface Confirmation {
  verdict: Verdict;
  /** The id of an earlier inspection (msg.partId); the features are taken from it... */
  partId?: string | undefined;
  /** ...or from this image when given. */
  sample?: Sample | undefined;
  /** Where the defect is (verdict "defect" only): the part then teaches the patch head. */
  region?: DefectRegion | undefined;
}

/** msg.payload of a confirmation. */
export interface ConfirmAnswer {
  confirmed: Verdict;
  partId: string | null;
  bank: { good: number; defect: number; labelled: number; pending: number };
  version: number;
  /**
   * After a confirmed defect: the good scores the fit handed over, scored as the model scores
   * now, so a good-only threshold calibrates again (kept-calibration.ts); absent when unchanged.
   */
  calibration?: HandedCalibration;
}

export type Queue = <T>(job: () => Promise<T>) => Promise<T>;

export type OnlineCapable = DetectorModel & { readonly online: OnlineModel };

export function isOnline(model: DetectorModel): model is OnlineCapable {
  return model.online !== undefined;
}

export class OnlineLearner {
  readonly recent: RecentParts;
  private scheduled: Promise<OnlineCounts> | undefined;
  private readonly attached = new WeakSet<OnlineModel>();
  /** Models already warned that they keep no learned images: once each is enough. */
  private readonly toldNoKept = new WeakSet<OnlineModel>();

  constructor(
    readonly config: OnlineConfig,
    private readonly versions: ModelVersions,
    /** The engine's queue, so saves never interleave with fits, resets or rollbacks. */
    private readonly queue: Queue,
    /** The model installed now (a save for a model replaced meanwhile is dropped). */
    private readonly current: () => DetectorModel | undefined,
    private readonly onError: (error: unknown) => void,
  ) {
    this.recent = new RecentParts(config.recentParts);
  }

  /** Inspects, remembers the part's features when it has an id, and reports drift. */
  async inspect(model: OnlineCapable, sample: Sample, partId: string | undefined): Promise<Inspection & { drift: DriftReport }> {
    this.attach(model.online);
    const { inspection, part } = await model.online.inspectPart(sample.tensor, partId !== undefined);
    if (partId !== undefined && part !== undefined) this.recent.remember(partId, { part, geometry: partGeometry(sample) });
    return { ...inspection, drift: this.drift(model.online) };
  }

  drift(online: OnlineModel): DriftReport {
    return driftReport(online.drift, this.config.driftWindow);
  }

  async confirm(model: OnlineCapable, request: Confirmation): Promise<ConfirmAnswer> {
    const online = model.online;
    this.attach(online);
    if (request.region !== undefined && request.verdict !== "defect") {
      throw new DefectError("invalidOption", `a region says where a defect is: the verdict must be "defect", got "${request.verdict}"`, {
        option: "msg.confirm.verdict",
        value: request.verdict,
      });
    }
    const { part, geometry } = await this.features(model, request);
    // Checked before the part is taken: a region the operator got wrong leaves the part to confirm again.
    const region = request.region === undefined ? undefined : regionGrid(request.region, geometry, part.gridWidth, part.gridHeight);
    if (request.sample === undefined && request.partId !== undefined) this.recent.take(request.partId);
    online.add(request.verdict, part, region);
    if (request.verdict === "good") online.drift = recordGoodScore(online.drift, part.score, this.config.driftWindow);
    const counts = await this.saveSoon(online);
    // A defect's evidence raises good parts' scores too: the threshold's good scores follow.
    const calibration = request.verdict === "defect" ? await this.freshCalibration(online) : undefined;
    return {
      confirmed: request.verdict,
      partId: request.partId ?? null,
      bank: { good: counts.good, defect: counts.defect, labelled: counts.labelled, pending: counts.pending },
      version: counts.version,
      ...(calibration === undefined ? {} : { calibration }),
    };
  }

  /**
   * The kept learned images' scores now. The verdict is saved by then: a failure to score them is
   * reported (the threshold keeps the calibration it has) and the verdict answered without them,
   * so the operator is not told that a part learned was not. A model without kept images is
   * reported once.
   */
  private async freshCalibration(online: OnlineModel): Promise<HandedCalibration | undefined> {
    try {
      return await online.calibration();
    } catch (error) {
      const noKept = isDefectError(error) && error.code === "noKeptImages";
      if (!noKept || !this.toldNoKept.has(online)) this.onError(error);
      if (noKept) this.toldNoKept.add(online);
      return undefined;
    }
  }

  /** Resolves when no refresh runs and every queued part is in a saved bank (benchmarks, tests). */
  async idle(online: OnlineModel): Promise<void> {
    for (;;) {
      await online.idle();
      await this.scheduled?.catch(() => undefined);
      const counts = online.counts();
      if (counts.refreshing || this.scheduled !== undefined) continue;
      if (counts.pending === 0 || this.current()?.online !== online) return;
      await this.saveSoon(online);
    }
  }

  private async features(model: OnlineCapable, request: Confirmation): Promise<RememberedPart> {
    const sample = request.sample;
    if (sample !== undefined) {
      model.check(sample);
      const { part } = await model.online.inspectPart(sample.tensor);
      return { part, geometry: partGeometry(sample) };
    }
    if (request.partId === undefined) {
      throw new DefectError("noTensorInput", "a confirmation needs msg.partId (an inspected part) or the image tensor in msg.payload", {
        source: "msg.payload",
        reason: "no part id and no tensor",
      });
    }
    return this.recent.peek(request.partId);
  }

  /** Background refreshes save their bank too, and flush what was queued while they ran. */
  private attach(online: OnlineModel): void {
    if (this.attached.has(online)) return;
    this.attached.add(online);
    online.onSwap(() => void this.saveSoon(online).catch(this.onError));
    online.onError(this.onError);
  }

  /** One save for every verdict queued before it starts. */
  private saveSoon(online: OnlineModel): Promise<OnlineCounts> {
    if (this.scheduled !== undefined) return this.scheduled;
    const run = this.queue(async () => {
      this.scheduled = undefined;
      if (this.current()?.online !== online) return online.counts();
      await online.flush();
      const next = online.counts().version + 1;
      await this.versions.commit((path) => online.save(path, next));
      return online.counts();
    });
    this.scheduled = run;
    // A failed save must not leave every later verdict waiting on it.
    void run
      .catch(() => undefined)
      .then(() => {
        if (this.scheduled === run) this.scheduled = undefined;
      });
    return run;
  }
}
