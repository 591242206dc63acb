/** Data shared by the supervised-model adapters (classification, YOLO detection, segmentation, reconstruction). */
import type { PreprocessOptions, ScoreMap, Tensor, Transform } from "../image/types";

/**
 * "segment" = instance segmentation (YOLO-seg); "semantic" = per-pixel class maps; "reconstruction" =
 * an autoencoder whose output has its input's shape, scored by how far the output is from the input.
 */
export const SUPERVISED_TASKS = ["classify", "detect", "segment", "semantic", "reconstruction"] as const;
export type SupervisedTask = (typeof SUPERVISED_TASKS)[number];
export type TaskChoice = SupervisedTask | "auto";

/** A reconstruction model's image score: the error map's maximum (one bad spot is enough) or its mean (the image's reconstruction loss). */
export const RECONSTRUCTION_SCORES = ["max", "mean"] as const;
export type ReconstructionScore = (typeof RECONSTRUCTION_SCORES)[number];

/** score 0..1 */
export interface ClassScore {
  class: number;
  name: string;
  score: number;
}

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  class: number;
  name: string;
}

/** mask in ORIGINAL image pixels (or tensor pixels when no transform), one byte a pixel (0 or 1). */
/**
 * One instance's mask, covering only its box (a full-image mask would cost a byte a pixel per
 * instance: 2 MB each at 1080p): image pixel (x + i, y + j) is `mask[j * width + i]`, 1 = inside.
 * In original image pixels when a transform was given, else tensor pixels.
 */
export interface InstanceMask {
  box: Box;
  x: number;
  y: number;
  width: number;
  height: number;
  mask: Uint8Array;
}

export interface SupervisedResult {
  task: SupervisedTask;
  /**
   * Image-level score: top class probability (classify), max box score (detect/segment; 0 when none), map max
   * (semantic), all 0..1; reconstruction: the error map's max or mean, in squared input units (not bounded by 1).
   */
  score: number;
  /** top-k (classify); for semantic: per-class max probability sorted desc; [] otherwise */
  classes: ClassScore[];
  /** in ORIGINAL image pixels when a Transform is given, else tensor pixels; [] for classify/semantic/reconstruction */
  boxes: Box[];
  /** segment only */
  masks: InstanceMask[];
  /**
   * Per-pixel defect score at TENSOR resolution (semantic: 1 - background prob or the single-channel
   * probability; segment: max over instances of box score inside its mask; reconstruction: the squared
   * error between output and input, averaged over channels); null otherwise.
   */
  map: ScoreMap | null;
}

export interface SupervisedOptions {
  /** override of auto-detection */
  task: TaskChoice;
  /** default 0.25 (boxes below dropped) */
  confidence: number;
  /** default 0.45 (class-aware NMS) */
  iou: number;
  /** default 300 */
  maxDetections: number;
  /** default 5 (classify) */
  topK: number;
  /** editor/sidecar override; else ONNX metadata "names"; else "class N" */
  classNames?: readonly string[];
  /** semantic: which channel is "good" (default 0) */
  backgroundClass?: number;
  /** Sidecar class names file (JSON array, JSON object {"0": "a"}, or one name a line); classNames wins over it. */
  namesFile?: string;
  /** Output to read when several could be the class scores / head / map (e.g. "logits"); guessed when omitted. */
  outputName?: string;
  /** reconstruction: image score from the error map (default "max"). */
  reconstructionScore: ReconstructionScore;
}

export const DEFAULT_SUPERVISED_OPTIONS: Readonly<SupervisedOptions> = {
  task: "auto",
  confidence: 0.25,
  iou: 0.45,
  maxDetections: 300,
  topK: 5,
  reconstructionScore: "max",
};

export type SupervisedInputType = "float32" | "float16" | "uint8";

export interface SupervisedModel {
  readonly path: string;
  readonly task: SupervisedTask;
  readonly names: readonly string[];
  readonly inputName: string;
  readonly inputType: SupervisedInputType;
  /** [1,3,H,W] from the graph where fixed; null dims where dynamic. */
  readonly inputShape: readonly (number | null)[];
  /**
   * Suggested preprocessing for this family:
   * YOLO (detect/segment, Ultralytics metadata or output shapes): letterbox, pad 114, RGB, scale 1, mean 0, std 1,
   * W/H from graph (or metadata imgsz, default 640);
   * classify/semantic without Ultralytics metadata: stretch, ImageNet mean/std, W/H from graph (default 224);
   * reconstruction: stretch, values 0..1 (no mean/std), W/H from graph (default 224).
   */
  readonly preprocess: PreprocessOptions;
  /** ONNX metadata_props */
  readonly metadata: Readonly<Record<string, string>>;
  /** The decoder in use: "classify", "yolov8", "yolov5", "end2end", "yolov8-seg", "semantic", "reconstruction" ("pending" until a dynamic head is first seen). */
  readonly layout: string;
  /** Where the names came from. */
  readonly namesSource: "editor" | "file" | "metadata" | "default";
  /** Things worth logging once: names count mismatches, unreadable metadata, ignored outputs. */
  readonly warnings: readonly string[];
  predict(tensor: Tensor, transform?: Transform): Promise<SupervisedResult>;
  release(): Promise<void>;
}

/** One decoded detection before NMS, in tensor pixels. */
export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  class: number;
  /** Extra per-box values after the class scores (the 32 mask coefficients of YOLO-seg); null when none. */
  extra: Float32Array | null;
}
