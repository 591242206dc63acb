/**
 * Node definition of defect-detector as the editor saves it, key for key the `defaults` of
 * detector.html. Text inputs arrive as strings, so numbers are typed `string | number` and converted by
 * the parse functions.
 */
import type { NodeDef } from "node-red";

export interface DetectorNodeDef extends NodeDef {
  /** "unsupervised" | "fewshot" | "supervised". */
  setting: string;
  /** "patchcore" | "padim" | "anomalib" (unsupervised); "patchcore" (fewshot); "onnx" (supervised). */
  method: string;
  /** ONNX backbone with the layers as outputs; relative to the user directory. */
  backbone: string;
  /** Comma-separated backbone output names, finest first. */
  layers: string;
  /** Fraction of the learned patches kept in the memory bank. */
  coreset: string | number;
  maxBank: string | number;
  /** 0 = exact nearest-neighbour search. */
  scoringDim: string | number;
  /** PatchCore support-set augmentation: "auto" (rounds of at most 8 images) | "on" | "off". */
  augment?: string;
  /** PatchCore augmentation: extra exact turns, comma-separated degrees; empty = none. */
  rotations?: string;
  /**
   * PatchCore image score: "auto" (map-max in the few-shot setting; else map-top-mean, reweighted with the
   * embedded backbone) | "reweighted" | "map-max" | "map-top-mean".
   */
  imageScore?: string;
  /** PatchCore: per-image feature standardisation (checkbox; absent in older flows = off). */
  standardize?: boolean | string;
  /** PatchCore, PaDiM: "auto" | "even" (one mean brightness before the backbone) | "as-captured"; absent in older flows = auto. */
  exposure?: string;
  /** PatchCore: "auto" | "1" | "3" | "1,3" (the finest layer 1 x 1, the others 3 x 3): each layer's averaging window; absent in older flows = auto. */
  neighbourhood?: string;
  placeWeights?: string;
  /** Images learned before the node fits by itself. */
  trainCount: string | number;
  /** Optional folder of good images learned at deploy when nothing is learned yet. */
  trainFolder: string;
  /** How folder images are preprocessed: preset and square size. */
  folderPreset: string;
  folderSize: string | number;
  /** anomalib export (method "anomalib") or supervised model (method "onnx"); relative to the user directory. */
  modelFile: string;
  /** Supervised: "auto" | "classify" | "detect" | "segment" | "semantic" | "reconstruction". */
  task: string;
  /** Supervised: boxes scoring at or below this are dropped (0..1). */
  confidence: string | number;
  /** Supervised: NMS overlap threshold (0..1). */
  iou: string | number;
  maxDetections: string | number;
  /** Supervised classification: classes reported. */
  topK: string | number;
  /** Supervised: comma-separated class names in index order; empty = from the names file or the model. */
  classNames: string;
  /** Supervised: JSON array/object or one name a line; relative to the user directory. */
  namesFile: string;
  /** Supervised reconstruction: "max" | "mean" of the error map; empty = max. */
  reconstructionScore?: string;
  /** onnxruntime threads per operator; empty or 0 = automatic. */
  threads: string | number;
  /** Model-running worker threads shared by every detector; empty or 0 = the pool's default. */
  workers: string | number;
  /** "original" | "model" | "none". */
  mapSize: string;
  /** Learning on the line (PatchCore): whether confirmations and learned images are taken at deploy. */
  learning: boolean | string;
  /** Inspections remembered by msg.partId for a later verdict (M). */
  recentParts: string | number;
  /** Previous versions of the saved model kept for rollback. */
  keepVersions: string | number;
  /** Recipes (products) whose models stay loaded. */
  recipeCache: string | number;
  /** Confirmed-good parts in the drift window (W). */
  driftWindow: string | number;
  /** Drift ratio above which the status turns yellow. */
  driftRatio: string | number;
  /** Weight of confirmed defects' evidence in PatchCore scores (0..64, 0 = defect bank not used). */
  defectWeight: string | number;
  /** Weight of the whole part's appearance in PatchCore image scores (0..0.9, 0 = patches alone); empty or absent: 0.25, 0 with the embedded backbone. */
  appearanceWeight?: string | number;
  /** Learned images most like a part that calibrate its PatchCore score (0..50, 0 = off); empty or absent: 7, 0 with the embedded backbone. */
  lookalikes?: string | number;
  /** Inspections that may wait while one is processed. */
  queueSize: string | number;
  /** "drop-oldest" | "drop-newest" | "block" (block refuses like drop-newest: wires cannot wait). */
  overflow: string;
  /** The message property holding a part's id for later verdicts; empty = "partId". */
  partIdProperty: string;
  /** Template comparison: edge displacement excused, pixels (0..8); empty = 1. Absent in older flows. */
  templateTolerance?: string | number;
  /** Template comparison: largest displacement of a part from its reference searched, pixels; empty = 32. */
  templateMaxShift?: string | number;
}
