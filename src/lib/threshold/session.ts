/**
 * The threshold stage of one node without Node-RED: the thresholds in effect, the calibration
 * samples being collected, and the stream memory for hysteresis. No I/O: saving is the caller's.
 */
import { DefectError } from "../errors";
import { computeCalibration } from "./calibrate";
import type { HandedCalibration } from "../message/calibration";
import type { ThresholdOptions } from "./options";
import type { CalibrationRecord } from "./record";
import { isCalibratedMode, type SampleLabel, type ThresholdMode, type Thresholds, type Verdict } from "./types";
import { bandThresholds, decideVerdict, INITIAL_STREAM, type StreamState } from "./verdict";

/** msg.payload of an inspected message. */
export interface Decision {
  verdict: Verdict;
  score: number;
  threshold: number;
  lowThreshold?: number;
  mode: ThresholdMode;
}

/** msg.payload of a calibration sample; the sample that completes the set adds the calibration. */
export interface SampleAnswer {
  calibrating: true;
  count: number;
  total: number;
  label: SampleLabel;
  calibration?: CalibrationRecord;
}

export type SessionState =
  { kind: "ready"; mode: ThresholdMode; thresholds: Thresholds } | { kind: "calibrating"; count: number; total: number } | { kind: "uncalibrated" };

export class ThresholdSession {
  readonly options: ThresholdOptions;
  private record: CalibrationRecord | undefined;
  private good: number[] = [];
  private defect: number[] = [];
  /** The good scores the detector handed over with its last fit: the good base of every calibration until the next. */
  private handed: HandedCalibration | undefined;
  private stream: StreamState = INITIAL_STREAM;
  /** Why a saved calibration was not used; appended to notCalibrated so Catch flows learn it. */
  private refusal: string | undefined;

  constructor(options: ThresholdOptions) {
    this.options = options;
  }

  get calibration(): CalibrationRecord | undefined {
    return this.record;
  }

  get sampleCount(): number {
    return this.good.length + this.defect.length;
  }

  /** Records why the saved calibration was refused (see `thresholds`). */
  refuseSaved(reason: string): void {
    this.refusal = reason;
  }

  /** Why the saved calibration was refused, while no new one replaced it. */
  get savedRefusal(): string | undefined {
    return this.refusal;
  }

  /** Uses a saved calibration (checked by the caller against the options with checkRecordMatches). */
  restore(record: CalibrationRecord): void {
    this.requireCalibrated("saved calibration");
    this.use(record);
    this.handed = record.handover;
  }

  /**
   * Whether the node calibrates from the scores a detector hands over: the false-reject-rate mode,
   * whose promise needs exactly such scores (good parts the model did not learn from). Mean + k
   * sigma keeps calibrating from the samples it is sent, as flows built on it expect.
   */
  get takesHandover(): boolean {
    return this.options.mode === "quantile";
  }

  /**
   * Calibrates from the good scores a detector handed over with a new fit. They replace the
   * previous fit's, and samples collected before it are dropped: they were scored by the model
   * the fit replaced. Labelled defects sent afterwards (msg.calibrate, then the calibrate
   * command) calibrate again with these good scores. When the scores cannot calibrate the mode
   * (too few for the false-reject rate) calibrationFailed says so, and they are kept: good
   * samples sent later add to them.
   */
  handover(scores: HandedCalibration, now: Date): CalibrationRecord {
    if (!this.takesHandover) {
      throw new DefectError("calibrationFailed", `mode ${this.options.mode} calibrates from the samples it is sent, not from a detector's scores`, {
        mode: this.options.mode,
      });
    }
    this.handed = { kind: scores.kind, scores: [...scores.scores] };
    this.good = [];
    this.defect = [];
    return this.calibrate(now);
  }

  /** The thresholds in effect; notCalibrated in a calibrated mode before any calibration. */
  thresholds(): Thresholds {
    const { options } = this;
    if (!isCalibratedMode(options.mode)) {
      return options.lowThreshold === undefined ? { threshold: options.threshold } : { threshold: options.threshold, lowThreshold: options.lowThreshold };
    }
    if (this.record === undefined) {
      const labels = options.mode === "f1" || options.mode === "recall" ? "labelled good and defect" : "good";
      const refused = this.refusal === undefined ? "" : ` (the saved calibration was not used: ${this.refusal})`;
      throw new DefectError("notCalibrated", `mode ${options.mode} has no calibration yet${refused}: send ${labels} samples with msg.calibrate = true`, {
        mode: options.mode,
      });
    }
    // The band is applied again from the options, so changing it needs no new calibration.
    return bandThresholds(this.record.threshold, options, this.record.defectScores);
  }

  /** What the status should show. */
  get state(): SessionState {
    if (this.sampleCount > 0) return { kind: "calibrating", count: this.sampleCount, total: this.options.calibrationCount };
    if (isCalibratedMode(this.options.mode) && this.record === undefined) return { kind: "uncalibrated" };
    return { kind: "ready", mode: this.options.mode, thresholds: this.thresholds() };
  }

  /** Pixel threshold for masks: the configured one, else the image threshold. */
  pixelThreshold(thresholds: Thresholds): number {
    return this.options.pixelThreshold ?? thresholds.threshold;
  }

  inspect(score: number): Decision {
    const thresholds = this.thresholds();
    const { verdict, state } = decideVerdict(score, thresholds, this.options.hysteresis, this.stream);
    this.stream = state;
    return { verdict, score, ...thresholds, mode: this.options.mode };
  }

  /**
   * Adds a sample; the one that reaches `calibrationCount` calibrates. When that calibration
   * fails (say, f1 without defects) the samples are kept and the next sample tries again.
   */
  addSample(score: number, label: SampleLabel, now: Date): SampleAnswer {
    this.requireCalibrated("calibration samples");
    (label === "good" ? this.good : this.defect).push(score);
    const count = this.sampleCount;
    const total = this.options.calibrationCount;
    if (count < total) return { calibrating: true, count, total, label };
    return { calibrating: true, count, total, label, calibration: this.calibrate(now) };
  }

  /**
   * Calibrates from the samples so far, with the handed-over good scores where there are some,
   * and starts a new round; throws calibrationFailed.
   */
  calibrate(now: Date): CalibrationRecord {
    const mode = this.requireCalibrated("calibrate");
    const handed = this.handed;
    const good = handed === undefined ? this.good : [...handed.scores, ...this.good];
    const record = computeCalibration(mode, this.options, { good, defect: this.defect, ...(handed === undefined ? {} : { handover: handed }) }, now);
    this.use(record);
    return record;
  }

  /** Forgets the samples, the handed-over scores and the calibration. */
  reset(): void {
    this.handed = undefined;
    this.good = [];
    this.defect = [];
    this.record = undefined;
    this.refusal = undefined;
    this.stream = INITIAL_STREAM;
  }

  private use(record: CalibrationRecord): void {
    this.record = record;
    this.good = [];
    this.defect = [];
    this.refusal = undefined;
    // A stream held NG by the old threshold is judged afresh by the new one.
    this.stream = INITIAL_STREAM;
  }

  private requireCalibrated(what: string): Exclude<ThresholdMode, "fixed"> {
    const { mode } = this.options;
    if (!isCalibratedMode(mode)) {
      throw new DefectError("calibrationFailed", `mode fixed uses the configured threshold and takes no ${what}: choose a calibrated mode`, { mode });
    }
    return mode;
  }
}
