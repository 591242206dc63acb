/**
 * What the detector works with, whatever the method: samples in, inspections out, and the two
 * kinds of method behind it: those that learn in the flow (a new model per learning round,
 * saved to a file) and those whose model is a file made elsewhere (anomalib exports).
 */
import type { StageTimings } from "../anomaly/types";
import type { DefectError } from "../errors";
import type { DriftRecord } from "./online/drift";
import type { PreprocessOptions, ScoreMap, Tensor, Transform } from "../image/types";
import type { Box, ClassScore, SupervisedTask } from "../supervised/types";
import type { HandedCalibration } from "../message/calibration";

/** Image scores of good parts the fitted model did not learn from (msg.payload.calibration of a learning result). */
export type { HandedCalibration } from "../message/calibration";

/**
 * The problem the detector solves: "unsupervised" learns "good" and flags what differs;
 * "fewshot" does the same from 1 to 16 good images (by default support-set augmentation, the
 * anomaly map's peak as image score and, with ONNX backbones, per-image standardised features),
 * with confirmed parts sharpening it; "supervised" runs a model trained elsewhere on labelled defect classes
 * (classification, detection, segmentation).
 */
export const DETECTOR_SETTINGS = ["unsupervised", "fewshot", "supervised"] as const;
export type DetectorSetting = (typeof DETECTOR_SETTINGS)[number];

export const DETECTOR_METHODS = ["patchcore", "padim", "anomalib", "onnx", "template"] as const;
export type DetectorMethod = (typeof DETECTOR_METHODS)[number];

/** The methods each setting offers, first = default. */
export const SETTING_METHODS: Readonly<Record<DetectorSetting, readonly DetectorMethod[]>> = {
  unsupervised: ["patchcore", "padim", "anomalib", "template"],
  fewshot: ["patchcore"],
  supervised: ["onnx"],
};

/** One image as the detector receives it from the preprocess stage. */
export interface Sample {
  tensor: Tensor;
  /** The options the tensor was made with, when the message says (msg.preprocessing). */
  preprocessing: PreprocessOptions | undefined;
  /** How the tensor was cut from the original image (msg.transform), for results in original pixels. */
  transform?: Transform | undefined;
  /** What the image is called (its file name), where known: a template detector names the reference a part was compared with. */
  name?: string | undefined;
}

/** Plain JSON describing the model that answered, for msg.payload.model. */
export type ModelInfo = Readonly<Record<string, string | number>>;

export interface Inspection {
  score: number;
  /** At the resolution the model produces (usually the tensor's); null when it has none. */
  map: ScoreMap | null;
  /** Stage split where the method has one. */
  timings: Partial<StageTimings>;
  /** Supervised models only: what the model does, and what it found. */
  task?: SupervisedTask;
  /** Top-k classes (classification) or the defect classes present (semantic segmentation). */
  classes?: ClassScore[];
  /** Detections in original image pixels when the sample had a transform, else tensor pixels. */
  boxes?: Box[];
  /** Name of the top class, top defect class or highest-scoring box; absent when there is none. */
  label?: string;
  /**
   * PatchCore learning on the line with a non-empty defect bank in use: the largest defect
   * evidence max_p(d_good - d_defect, 0) of the part (0 = no patch is closer to a known defect
   * than to good parts). Absent when no defect bank is used.
   */
  defectEvidence?: number;
  /**
   * PatchCore learning on the line with a patch head in use (confirmed defects with regions): the
   * part's largest head evidence max_p max(0, logit_p) (0 = no patch looks like a labelled defect).
   */
  headEvidence?: number;
  /**
   * PatchCore with an appearance model in use (appearance.ts): what the part's appearance as a
   * whole added to its image score (below 0 for a part that looks more typical than most).
   */
  appearance?: number;
  /**
   * PatchCore calibrated by look-alikes (lookalikes.ts): what the learned good parts most like this
   * one added to its image score (below 0 where parts of its kind score high).
   */
  lookalikes?: number;
  /** Template comparison: the learned reference the part was compared with. */
  reference?: ReferenceUsed;
}

/** Which learned reference a template detector compared a part with. */
export interface ReferenceUsed {
  /** 0-based, in the order the references were learned. */
  index: number;
  /** Its file name when it was learned from a file (msg.filename, the training folder), else "reference N". */
  name: string;
  /** Thumbnail correlation with the part, -1..1: a part and its own reference correlate near 1, other designs far less. */
  similarity: number;
  /**
   * The part is learned reference `copyOf` itself, sent again: it is compared with the most
   * similar other reference of the same design, or with itself (score 0) when there is none.
   */
  copyOf?: number;
}

export interface DetectorModel {
  readonly info: ModelInfo;
  /** Throws inputShapeMismatch or preprocessMismatch when `sample` is not comparable with what was learned. */
  check(sample: Sample): void;
  /** `transform` maps results that have coordinates (boxes) back to the original image. */
  inspect(tensor: Tensor, transform?: Transform): Promise<Inspection>;
  release(): Promise<void>;
  /** Present for models that learn on the line (PatchCore): confirmed parts change their bank. */
  readonly online?: OnlineModel;
}

/** An operator's verdict on an inspected part. */
export type Verdict = "good" | "defect";

/** What an inspection leaves behind for a later verdict: the part's patch features and scores. */
export interface PartFeatures {
  /** [patches, dim] row-major. */
  data: Float32Array;
  patches: number;
  dim: number;
  /** The patch grid, gridWidth x gridHeight = patches: where a confirmed defect's region falls. */
  gridWidth: number;
  gridHeight: number;
  /** One score a patch (distance to the good bank), for picking a defect's patches. */
  patchScores: Float32Array;
  /**
   * The part's PatchCore image score against the good bank, without defect evidence: the drift
   * indicator follows it, so learning a defect never moves the drift of good parts.
   */
  score: number;
}

/** Bank sizes and what was learned on the line, as the editor and the answers show them. */
export interface OnlineCounts {
  /** Rows of the good bank inspections use now. */
  good: number;
  /** Confirmed-good rows waiting for the background coreset refresh. */
  pending: number;
  /** Rows of the defect bank. */
  defect: number;
  /** Confirmed defects with a region (boxes or a mask) the patch head learns from. */
  labelled: number;
  /** Parts confirmed good / defect since the fit. */
  shotsLearned: number;
  defectsLearned: number;
  /** Saves since the fit (1 = the fit itself). */
  version: number;
  /** ISO time of the last change; null when nothing was learned on the line yet. */
  updated: string | null;
  /** Whether a background coreset refresh is running. */
  refreshing: boolean;
}

/** The part of a model that learns confirmed parts (see online-bank.ts). */
export interface OnlineModel {
  /**
   * Inspects and returns the features the score was made from; with `remember` false, without
   * them (they then never leave the model's worker).
   */
  inspectPart(tensor: Tensor): Promise<{ inspection: Inspection; part: PartFeatures }>;
  inspectPart(tensor: Tensor, remember: boolean): Promise<{ inspection: Inspection; part: PartFeatures | undefined }>;
  /**
   * Queues a confirmed part; flush() puts it in the bank. `region`: where a confirmed defect is,
   * on the part's patch grid (1 = defect cell); such a part teaches the patch head.
   */
  add(verdict: Verdict, part: PartFeatures, region?: Uint8Array): void;
  /** Puts queued parts in the bank, or starts a background refresh when they would pass the cap. */
  flush(): Promise<void>;
  counts(): OnlineCounts;
  /** Drift history saved with the model. */
  drift: DriftRecord;
  /** Saves bank, queued parts, defect bank and counters as version `version`. */
  save(path: string, version: number): Promise<void>;
  /** Called after a background refresh swapped in a new bank (to save it). */
  onSwap(listener: () => void): void;
  /** A background refresh failed (its parts stay queued). */
  onError(listener: (error: unknown) => void): void;
  /** Resolves when no refresh is running and nothing is queued (benchmarks, tests). */
  idle(): Promise<void>;
  /**
   * The good scores the fit handed over, scored again as the model scores now (a confirmed
   * defect adds its evidence to good parts' scores too); undefined when they are unchanged or
   * the model keeps no learned images (a model opened from its file; kept-calibration.ts).
   */
  calibration(): Promise<HandedCalibration | undefined>;
}

/** A fitted model and how to save it. */
export interface FittedModel {
  model: DetectorModel;
  save(path: string): Promise<void>;
  /** Methods that score good parts they did not learn from (PatchCore), handed over with the learning result. */
  calibration?: HandedCalibration;
}

/** Good images collected for one fit. */
export interface LearningRound {
  readonly count: number;
  /** Every sample of a round must have the first one's tensor shape and preprocessing. */
  add(sample: Sample): Promise<void>;
  /** On success the model owns what it needs; release() the round either way. Aborting stops the fit. */
  fit(signal: AbortSignal): Promise<FittedModel>;
  release(): Promise<void>;
}

export interface LearningMethod {
  readonly kind: "learning";
  readonly method: DetectorMethod;
  startRound(): Promise<LearningRound>;
  /**
   * The model saved at `path`: fileNotFound when there is none, modelMismatch when it was
   * learned with another backbone, layers or method, modelFileInvalid/modelFileVersion when
   * the file cannot be read.
   */
  load(path: string): Promise<DetectorModel>;
  release(): Promise<void>;
}

export interface FixedMethod {
  readonly kind: "fixed";
  readonly method: DetectorMethod;
  readonly model: DetectorModel;
  /** Things worth a warning in the log (assumptions the loader made). */
  readonly warnings: readonly string[];
  /** Facts worth a line in the log at deploy (what the model is, how to preprocess for it). */
  readonly notes?: readonly string[];
  release(): Promise<void>;
}

export type MethodHandle = LearningMethod | FixedMethod;

export type DetectorState =
  | { kind: "untrained" }
  | { kind: "ready" }
  | { kind: "learning"; count: number; total: number }
  | { kind: "fitting"; count: number }
  /** A saved model exists but cannot be used; nothing is learned or saved until reset. */
  | { kind: "blocked"; error: DefectError };
