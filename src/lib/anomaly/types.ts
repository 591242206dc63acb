/** What every anomaly method (PatchCore, PaDiM, template, anomalib) gives per image. */
import type { ScoreMap, Tensor } from "../image/types";

export interface StageTimings {
  /** Feature extraction (backbone and patch head). */
  backboneMs: number;
  /** Distances / likelihoods. */
  scoringMs: number;
  /** Upsampling, blur, score re-weighting. */
  postMs: number;
}

export interface AnomalyResult {
  /** Image anomaly score; higher = more anomalous. Not normalised. */
  score: number;
  /** Anomaly map at the model's input (tensor) resolution. */
  map: ScoreMap;
  timings: StageTimings;
}

export interface AnomalyModel {
  inspect(tensor: Tensor): Promise<AnomalyResult>;
  release(): Promise<void>;
}
