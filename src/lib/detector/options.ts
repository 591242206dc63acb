/**
 * Detector options parsed once from editor values (strings) with every default in one place;
 * an out-of-range value is an invalidOption error naming the option, expected range and value.
 */
import { MAX_LOOKALIKES } from "../anomaly/patchcore/lookalikes";
import { DEFAULT_PADIM_OPTIONS, type PadimOptions } from "../anomaly/padim/padim";
import { AUGMENT_MODES, isTurn, MAX_TURN_DEG } from "../anomaly/patchcore/augment";
import { DEFAULT_PATCHCORE_OPTIONS, IMAGE_SCORE_RULES, type ImageScoreRule, type PatchCoreOptions } from "../anomaly/patchcore/patchcore";
import { booleanOption, integerOption, invalidOption, numberWhere, oneOf, optionText, propertyOption, rangeOption } from "../config/option-values";
import { DefectError } from "../errors";
import { MAX_POOL_WORKERS } from "../onnx/worker-pool";
import { parsePreprocessOptions, PRESET_NAMES } from "../image";
import type { PreprocessOptions } from "../image/types";
import { DEFAULT_SUPERVISED_OPTIONS, RECONSTRUCTION_SCORES, SUPERVISED_TASKS, type ReconstructionScore, type TaskChoice } from "../supervised/types";
import { evensExposureByDefault } from "../features/even-exposure";
import { standardizesByDefault } from "../features/instance-norm";
import { NEIGHBOURHOOD_CHOICES, neighbourhoodByDefault, neighbourhoodOf, type Neighbourhood, type NeighbourhoodChoice } from "../features/neighbourhood";
import { DETECTOR_SETTINGS, SETTING_METHODS, type DetectorMethod, type DetectorSetting } from "./types";
import { DEFAULT_TEMPLATE_OPTIONS, MAX_TEMPLATE_SHIFT, MAX_TEMPLATE_TOLERANCE, type TemplateOptions } from "./methods/template-options";
import { DEFAULT_DRIFT_RATIO, DEFAULT_DRIFT_WINDOW } from "./online/drift";
import { DEFAULT_KEEP_VERSIONS, MAX_KEEP_VERSIONS } from "./storage/model-versions";
import { DEFAULT_RECIPE_CACHE, MAX_RECIPE_CACHE } from "../recipes";
import type { OnlineConfig } from "./online/online-learner";
import { DEFAULT_DEFECT_WEIGHT, MAX_DEFECT_WEIGHT } from "./online/online-scorers";
import { MAX_APPEARANCE_WEIGHT } from "../anomaly/patchcore/appearance";
import { DEFAULT_RECENT_PARTS, MAX_RECENT_PARTS } from "./online/recent-parts";
import { DEFAULT_AUGMENT_CHOICE, type AugmentChoice } from "./fit/support-set";
import { DEFAULT_FEW_SHOTS, MAX_FEW_SHOTS, presetFor, unsupervisedScoring } from "./setting-presets";

export const MAP_SIZES = ["original", "model", "none"] as const;
export type MapSize = (typeof MAP_SIZES)[number];

export const DEFAULT_LAYERS = ["layer2", "layer3"];
export const DEFAULT_TRAIN_COUNT = 50;
/** Template comparison: one reference (the golden part) unless Learn says more. */
export const DEFAULT_TEMPLATE_REFERENCES = 1;
export { DEFAULT_FEW_SHOTS, MAX_FEW_SHOTS } from "./setting-presets";
/** "auto": the setting's measured best (setting-presets.ts): the map's peak with few shots, else per backbone. */
export const IMAGE_SCORE_CHOICES = ["auto", ...IMAGE_SCORE_RULES] as const;
/** Where an inspection's part id is read, for operator verdicts given later by part id. */
export const DEFAULT_PART_ID_PROPERTY = "partId";
/** Each learned image keeps its patch features in memory until the fit: bound the round. */
export const MAX_TRAIN_COUNT = 10_000;
export const DEFAULT_FOLDER_PRESET = "imagenet";
/** The preprocess node's default tensor side, so default nodes agree. */
export const DEFAULT_FOLDER_SIZE = 256;
const MAX_FOLDER_SIZE = 8192;
const MAX_BANK_SIZE = 10_000_000;
const MAX_SCORING_DIM = 4096;
const MAX_THREADS = 64;
/** Ultralytics' own ceiling for max_det is 300 by default; a few thousand covers dense parts. */
export const MAX_DETECTIONS = 10_000;
export const MAX_TOP_K = 1000;
const TASK_CHOICES: readonly TaskChoice[] = ["auto", ...SUPERVISED_TASKS];
const MAX_DRIFT_WINDOW = 10_000;
/** Every 10 degrees is already more turns than a round part needs; each one is a variant a shot. */
export const MAX_ROTATIONS = 36;

/** Supervised models (setting "supervised", method "onnx"): decoding and class names. */
export interface SupervisedConfig {
  task: TaskChoice;
  /** Boxes scoring at or below this are dropped (0..1). */
  confidence: number;
  /** Overlap above which NMS drops the lower-scoring box of a class (0..1). */
  iou: number;
  maxDetections: number;
  /** Classes reported for classification models. */
  topK: number;
  /** From the editor (comma list); wins over the names file and the model's metadata. */
  classNames: string[] | undefined;
  /** Sidecar names file as configured; "" = none. */
  namesFile: string;
  /** Reconstruction models: the image score is the error map's maximum or mean. */
  reconstructionScore: ReconstructionScore;
}

export interface DetectorOptions {
  setting: DetectorSetting;
  method: DetectorMethod;
  /** ONNX backbone path as configured (relative paths start at the user directory). */
  backbone: string;
  layers: string[];
  patchcore: PatchCoreOptions;
  /** PaDiM runs with the core's defaults (100 random feature channels, as anomalib for ResNet-18). */
  padim: PadimOptions;
  /** Learned images after which a round is fitted without being asked. */
  trainCount: number;
  /** "" = none: learn only from messages. */
  trainFolder: string;
  /** How images from the training folder become tensors. */
  folderPreprocess: PreprocessOptions;
  /** anomalib export or supervised ONNX model, path as configured. */
  modelFile: string;
  supervised: SupervisedConfig;
  /** onnxruntime threads per operator; undefined lets onnxruntime choose. */
  threads: number | undefined;
  /** Worker threads that run models, shared by every detector (the largest ask wins); undefined: the pool's default. */
  workers: number | undefined;
  mapSize: MapSize;
  /** Learning on the line: parts remembered for a verdict, drift window and warning ratio. */
  online: OnlineConfig;
  /** PatchCore: support-set augmentation of rounds of a few images. */
  augment: AugmentChoice;
  /**
   * PatchCore: per-image feature standardisation of bank and inspected images. "auto" (default):
   * on in the few-shot setting with an ONNX backbone (instance-norm.ts says why not the embedded one).
   */
  standardize: boolean;
  /**
   * PatchCore and PaDiM: even out each image's exposure before the backbone (even-exposure.ts).
   * "auto" (default): on for PatchCore learning from good parts with an ONNX backbone.
   */
  evenExposure: boolean;
  /**
   * PatchCore: the p x p window each layer's features are averaged over before the search, one a
   * layer (neighbourhood.ts). "auto" (default): the finest layer 1 x 1 and the others 3 x 3 learning
   * from good parts with an ONNX backbone, else 3 x 3 everywhere.
   */
  neighbourhood: Neighbourhood;
  /** PatchCore: weight of confirmed defects' evidence in scores (0..64); 0 = defect bank not used. */
  defectWeight: number;
  /**
   * PatchCore, learning from good parts: weight w of the whole part's appearance in the image score
   * (0..0.9, appearance.ts); empty: 0.25 with an ONNX backbone, 0 with the embedded one (setting-presets.ts).
   */
  appearanceWeight: number;
  /**
   * PatchCore learning from good parts: each score calibrated by the levels of this many learned
   * images most like the part (0..50, lookalikes.ts; 0 = off); empty: 7 with an ONNX backbone, 0
   * with the embedded one. Fitted with the model: a change takes effect at the next learning.
   */
  lookalikes: number;
  /**
   * PatchCore learning from good parts: distances count less at places where the learned good parts
   * vary most (place-weights.ts). "auto" (default): on where the image score is read from the map
   * (map-top-mean, map-max: the default with an ONNX backbone), which the weights need.
   */
  placeWeights: boolean;
  /** Previous versions of the saved model kept for rollback. */
  keepVersions: number;
  /** Recipes (products, msg.recipe) whose models stay loaded for an instant changeover. */
  recipeCache: number;
  /** Whether learning is on at deploy (msg.command "start-learning"/"stop-learning" change it). */
  learning: boolean;
  /** The message property naming a part, so a later msg.confirm can refer to its inspection. */
  partIdProperty: string;
  /** Template comparison: edge tolerance and alignment reach. */
  template: TemplateOptions;
}

/** A fraction in (0, 1]: 0 would keep no patch, above 1 is meaningless. */
function fraction(option: string, value: unknown, fallback: number): number {
  return numberWhere(option, value, fallback, "a number above 0 and at most 1", (n) => n > 0 && n <= 1);
}

/** A probability threshold in [0, 1]. */
function unitInterval(option: string, value: unknown, fallback: number): number {
  return numberWhere(option, value, fallback, "a number from 0 to 1", (n) => n >= 0 && n <= 1);
}

/** A ratio above 1: a drift warning at or below 1 would fire on every normal day. */
function ratioAboveOne(option: string, value: unknown, fallback: number): number {
  return numberWhere(option, value, fallback, "a number above 1", (n) => n > 1);
}

function flag(option: string, value: unknown, fallback: boolean): boolean {
  const raw = optionText(value);
  if (raw === "") return fallback;
  if (raw === "true" || raw === "false") return raw === "true";
  throw invalidOption(option, "true or false", value);
}

/** Class names as a comma list, index order; undefined when empty (names come from elsewhere). */
function parseClassNames(value: unknown): string[] | undefined {
  const raw = optionText(value);
  if (raw === "") return undefined;
  const names = raw.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) throw invalidOption("classNames", "a comma-separated list of class names in class-index order, none empty", value);
  return names;
}

function parseSupervised(input: Record<string, unknown>): SupervisedConfig {
  const defaults = DEFAULT_SUPERVISED_OPTIONS;
  return {
    task: oneOf("task", input["task"], TASK_CHOICES, "auto"),
    confidence: unitInterval("confidence", input["confidence"], defaults.confidence),
    iou: unitInterval("iou", input["iou"], defaults.iou),
    maxDetections: integerOption("maxDetections", input["maxDetections"], 1, MAX_DETECTIONS, defaults.maxDetections),
    topK: integerOption("topK", input["topK"], 1, MAX_TOP_K, defaults.topK),
    classNames: parseClassNames(input["classNames"]),
    namesFile: optionText(input["namesFile"]),
    reconstructionScore: oneOf("reconstructionScore", input["reconstructionScore"], RECONSTRUCTION_SCORES, defaults.reconstructionScore),
  };
}

/** Extra exact turns as a comma list of degrees ("45,90,135"); empty = none. */
function parseRotations(value: unknown): number[] {
  const raw = optionText(value);
  if (raw === "") return [...DEFAULT_AUGMENT_CHOICE.rotations];
  const parts = raw.split(",").map((p) => p.trim());
  const turns = parts.map(Number);
  if (parts.length > MAX_ROTATIONS || parts.some((p) => p === "") || !turns.every(isTurn)) {
    throw invalidOption("rotations", `a comma-separated list of at most ${MAX_ROTATIONS} angles in degrees from -${MAX_TURN_DEG} to ${MAX_TURN_DEG}`, value);
  }
  return turns;
}

function parseLayers(value: unknown): string[] {
  const raw = optionText(value);
  if (raw === "") return [...DEFAULT_LAYERS];
  const layers = raw.split(",").map((l) => l.trim());
  if (layers.some((l) => l === "") || new Set(layers).size !== layers.length) {
    throw invalidOption("layers", "a comma-separated list of distinct backbone output names", value);
  }
  return layers;
}

/** Exposure: "even" evens it out, "as-captured" keeps the pixels; "auto" (or nothing) the method's and backbone's default. */
const EXPOSURE_CHOICES = ["auto", "even", "as-captured"] as const;

/** true / false, or "auto" (or nothing): the setting's and backbone's default. */
function standardizeOption(value: unknown, byDefault: boolean): boolean {
  return value === "auto" ? byDefault : booleanOption("standardize", value, byDefault);
}

function exposureOption(value: unknown, byDefault: boolean): boolean {
  const choice = oneOf("exposure", value, EXPOSURE_CHOICES, "auto");
  return choice === "auto" ? byDefault : choice === "even";
}

/** Neighbourhood: "1", "3" or "1,3" (neighbourhood.ts); "auto" (or nothing) the setting's and backbone's default. */
function neighbourhoodOption(value: unknown, byDefault: NeighbourhoodChoice, layers: number): Neighbourhood {
  const choice = oneOf("neighbourhood", value, ["auto", ...NEIGHBOURHOOD_CHOICES] as const, "auto");
  return neighbourhoodOf(choice === "auto" ? byDefault : choice, layers);
}

/** Place weights: "on", "off", or "auto" (or nothing): on where the setting and image score allow them. */
function placeWeightsOption(value: unknown, method: DetectorMethod, fewShot: boolean, imageScore: ImageScoreRule): boolean {
  const choice = oneOf("placeWeights", value, ["auto", "on", "off"] as const, "auto");
  // Only PatchCore weighs places: other methods leave the option aside, as they do PatchCore's others.
  if (method !== "patchcore") return false;
  if (choice === "auto") return !fewShot && imageScore !== "reweighted";
  if (choice === "on" && fewShot)
    throw invalidOption("placeWeights", "auto or off in the few-shot setting (a few shots cannot tell where good parts vary)", value);
  if (choice === "on" && imageScore === "reweighted") {
    throw invalidOption(
      "placeWeights",
      "auto or off with the re-weighted image score (the weights need a score read from the map: map-top-mean or map-max)",
      value,
    );
  }
  return choice === "on";
}

function requirePath(option: string, value: string, method: DetectorMethod): string {
  if (value === "") throw new DefectError("invalidOption", `Option ${option} must name a file for method ${method}`, { option, value });
  return value;
}

/** Images a round learns when Learn is empty: a template detector fits on its first reference. */
function defaultTrainCount(fewShot: boolean, method: DetectorMethod): number {
  if (fewShot) return DEFAULT_FEW_SHOTS;
  return method === "template" ? DEFAULT_TEMPLATE_REFERENCES : DEFAULT_TRAIN_COUNT;
}

export function parseDetectorOptions(input: Record<string, unknown>): DetectorOptions {
  const setting = oneOf("setting", input["setting"], DETECTOR_SETTINGS, "unsupervised");
  const methods = SETTING_METHODS[setting];
  const method = oneOf("method", input["method"], methods, methods[0] as DetectorMethod);
  const threadsValue = integerOption("threads", input["threads"], 0, MAX_THREADS, 0);
  const workersValue = integerOption("workers", input["workers"], 0, MAX_POOL_WORKERS, 0);
  const folderPreset = oneOf("folderPreset", input["folderPreset"], PRESET_NAMES, DEFAULT_FOLDER_PRESET);
  const folderSize = integerOption("folderSize", input["folderSize"], 1, MAX_FOLDER_SIZE, DEFAULT_FOLDER_SIZE);
  const fewShot = setting === "fewshot";
  const imageScore = oneOf("imageScore", input["imageScore"], IMAGE_SCORE_CHOICES, "auto");
  // Left empty (the editor's default), coreset and search dims are the setting's measured best.
  const preset = presetFor(fewShot);
  // Left on auto / empty: the measured best with this backbone (the few-shot setting has no appearance term).
  const scoring = fewShot
    ? { imageScore: preset.imageScore, appearanceWeight: 0, blurSigma: DEFAULT_PATCHCORE_OPTIONS.blurSigma, lookalikes: 0 }
    : unsupervisedScoring(optionText(input["backbone"]));
  const layers = parseLayers(input["layers"]);
  const rule = imageScore === "auto" ? scoring.imageScore : imageScore;
  const options: DetectorOptions = {
    setting,
    method,
    backbone: optionText(input["backbone"]),
    layers,
    patchcore: {
      ...DEFAULT_PATCHCORE_OPTIONS,
      coresetRatio: fraction("coreset", input["coreset"], preset.coresetRatio),
      maxBankSize: integerOption("maxBank", input["maxBank"], 1, MAX_BANK_SIZE, DEFAULT_PATCHCORE_OPTIONS.maxBankSize),
      scoringDim: integerOption("scoringDim", input["scoringDim"], 0, MAX_SCORING_DIM, preset.scoringDim),
      imageScore: rule,
      blurSigma: scoring.blurSigma,
    },
    padim: { ...DEFAULT_PADIM_OPTIONS },
    trainCount: integerOption("trainCount", input["trainCount"], 1, fewShot ? MAX_FEW_SHOTS : MAX_TRAIN_COUNT, defaultTrainCount(fewShot, method)),
    trainFolder: optionText(input["trainFolder"]),
    folderPreprocess: parsePreprocessOptions({ preset: folderPreset, width: folderSize, height: folderSize }),
    modelFile: optionText(input["modelFile"]),
    supervised: parseSupervised(input),
    threads: threadsValue === 0 ? undefined : threadsValue,
    workers: workersValue === 0 ? undefined : workersValue,
    mapSize: oneOf("mapSize", input["mapSize"], MAP_SIZES, "original"),
    online: {
      recentParts: integerOption("recentParts", input["recentParts"], 1, MAX_RECENT_PARTS, DEFAULT_RECENT_PARTS),
      driftWindow: integerOption("driftWindow", input["driftWindow"], 1, MAX_DRIFT_WINDOW, DEFAULT_DRIFT_WINDOW),
      driftRatio: ratioAboveOne("driftRatio", input["driftRatio"], DEFAULT_DRIFT_RATIO),
    },
    augment: {
      mode: oneOf("augment", input["augment"], AUGMENT_MODES, DEFAULT_AUGMENT_CHOICE.mode),
      rotations: parseRotations(input["rotations"]),
      maxShots: preset.augmentMaxShots,
    },
    standardize: standardizeOption(input["standardize"], fewShot && standardizesByDefault(optionText(input["backbone"]))),
    evenExposure: exposureOption(input["exposure"], evensExposureByDefault(method, fewShot, optionText(input["backbone"]))),
    neighbourhood: neighbourhoodOption(input["neighbourhood"], neighbourhoodByDefault(method, fewShot, optionText(input["backbone"])), layers.length),
    defectWeight: rangeOption("defectWeight", input["defectWeight"], 0, MAX_DEFECT_WEIGHT, DEFAULT_DEFECT_WEIGHT, false),
    appearanceWeight: rangeOption("appearanceWeight", input["appearanceWeight"], 0, MAX_APPEARANCE_WEIGHT, scoring.appearanceWeight, false),
    lookalikes: rangeOption("lookalikes", input["lookalikes"], 0, MAX_LOOKALIKES, scoring.lookalikes, true),
    placeWeights: placeWeightsOption(input["placeWeights"], method, fewShot, rule),
    keepVersions: integerOption("keepVersions", input["keepVersions"], 0, MAX_KEEP_VERSIONS, DEFAULT_KEEP_VERSIONS),
    recipeCache: integerOption("recipeCache", input["recipeCache"], 1, MAX_RECIPE_CACHE, DEFAULT_RECIPE_CACHE),
    learning: flag("learning", input["learning"], true),
    partIdProperty: propertyOption("partIdProperty", input["partIdProperty"], DEFAULT_PART_ID_PROPERTY),
    template: {
      tolerance: integerOption("templateTolerance", input["templateTolerance"], 0, MAX_TEMPLATE_TOLERANCE, DEFAULT_TEMPLATE_OPTIONS.tolerance),
      maxShift: integerOption("templateMaxShift", input["templateMaxShift"], 1, MAX_TEMPLATE_SHIFT, DEFAULT_TEMPLATE_OPTIONS.maxShift),
    },
  };
  if (method === "anomalib" || method === "onnx") requirePath("modelFile", options.modelFile, method);
  // Template comparison compares pixels: it has no backbone.
  else if (method !== "template") requirePath("backbone", options.backbone, method);
  return options;
}
