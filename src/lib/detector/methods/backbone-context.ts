/**
 * What every method built on a backbone shares: the backbone's identity (what a saved model
 * must match), extractors opened from the shared session, the learned record, reading a saved
 * model with the match checked first, and the DetectorModel wrapper.
 */
import { createHash } from "node:crypto";
import type { AnomalyModel } from "../../anomaly/types";
import { buildEmbeddedBackbone, EMBEDDED_BACKBONE } from "../../features/embedded";
import { openPatchExtractor, type PatchExtractor } from "../../features/extractor";
import { exposureEvenedExtractor } from "../../features/even-exposure";
import { standardizingExtractor } from "../../features/instance-norm";
import { recordedBefore, type Neighbourhood } from "../../features/neighbourhood";
import { IMAGENET_NORMALISATION, type TensorNormalisation } from "../../image/exposure";
import type { SessionOptions } from "../../onnx";
import { fileIdentity, readModelFile, type FileIdentity, type ModelFile } from "../../persist";
import { checkLearnedWith, readLearnedRecord, shapeOfRecord, type LearnedRecord, type LearnedWith } from "../storage/learned-record";
import { checkSample, type SampleShape } from "../sample";
import type { DetectorMethod, DetectorModel, DetectorSetting, ModelInfo } from "../types";

export interface BackboneMethodConfig {
  setting: DetectorSetting;
  /** Absolute path of the ONNX backbone, or "embedded" for the built-in one. */
  backbone: string;
  layers: string[];
  session: SessionOptions;
  /** PatchCore: per-image feature standardisation of every embedding (default off). */
  standardize?: boolean;
  /** Even out each image's exposure before the backbone (even-exposure.ts; default off), for what is learned from now on. */
  evenExposure?: boolean;
  /** How the tensors are normalised (the detector's folder preset), to undo for the exposure. */
  normalisation?: TensorNormalisation;
  /** PatchCore: each layer's p x p window (neighbourhood.ts; default 3 x 3 everywhere), for what is learned from now on. */
  neighbourhood?: Neighbourhood;
}

/** How a model's images become features, beyond what must match: a saved model runs as it was learned. */
export type FeatureRecipe = Pick<LearnedWith, "evenExposure" | "neighbourhood">;

export interface BackboneContext {
  readonly learnedWith: LearnedWith;
  /**
   * A new extractor on the shared backbone session, safe for concurrent first calls. `recipe`:
   * a saved model's record (it runs as it was learned); the configuration's when left out.
   */
  openExtractor(recipe?: FeatureRecipe): Promise<PatchExtractor>;
  /** The saved model file, refused (modelMismatch) unless learned with this backbone, layers, method and standardisation. */
  readChecked(path: string): Promise<{ file: ModelFile; record: LearnedRecord }>;
  release(): Promise<void>;
}

/** The built-in backbone is identified by the bytes it is built from, so a new version does not match. */
async function backboneIdentity(backbone: string): Promise<FileIdentity> {
  if (backbone !== EMBEDDED_BACKBONE) return fileIdentity(backbone);
  const bytes = await buildEmbeddedBackbone();
  return { name: EMBEDDED_BACKBONE, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * The extractor builds its patch head on the first image; two inspections racing to be first
 * would each build (and one leak) a head, so the first call runs alone.
 */
function firstCallAlone(extractor: PatchExtractor): PatchExtractor {
  let warm = false;
  let pending: Promise<unknown> | undefined;
  const embed: PatchExtractor["embed"] = async (tensor) => {
    while (!warm && pending !== undefined) await pending.catch(() => undefined);
    if (warm) return extractor.embed(tensor);
    const run = extractor.embed(tensor);
    pending = run;
    try {
      const embedding = await run;
      warm = true;
      return embedding;
    } finally {
      if (pending === run) pending = undefined;
    }
  };
  return {
    backbone: extractor.backbone,
    layers: (tensor) => extractor.layers(tensor),
    embed,
    fusable: () => extractor.fusable?.(),
    release: () => extractor.release(),
  };
}

export async function openBackboneContext(config: BackboneMethodConfig, method: DetectorMethod): Promise<BackboneContext> {
  const identity = await backboneIdentity(config.backbone);
  const open = (neighbourhood?: Neighbourhood): Promise<PatchExtractor> =>
    openPatchExtractor({ model: config.backbone, layers: config.layers }, config.session, neighbourhood);
  // Held for the node's lifetime: validates the file and layers at deploy, and keeps the shared
  // backbone session loaded so each round's and model's extractor opens from the cache.
  const pinned = await open();
  const learnedWith: LearnedWith = {
    setting: config.setting,
    method,
    backbone: { ...identity, input: pinned.backbone.identity.inputName },
    layers: [...config.layers],
    standardize: config.standardize === true,
    evenExposure: config.evenExposure === true,
    neighbourhood: config.neighbourhood ?? recordedBefore(config.layers.length),
  };
  const normalisation = config.normalisation ?? IMAGENET_NORMALISATION;
  return {
    learnedWith,
    openExtractor: async (recipe = learnedWith) => {
      const raw = firstCallAlone(await open(recipe.neighbourhood));
      const extractor = recipe.evenExposure ? exposureEvenedExtractor(raw, normalisation) : raw;
      return learnedWith.standardize ? standardizingExtractor(extractor) : extractor;
    },
    async readChecked(path) {
      const file = await readModelFile(path);
      const record = readLearnedRecord(file.metadata, path);
      checkLearnedWith(record, learnedWith, path);
      return { file, record };
    },
    release: () => pinned.release(),
  };
}

/** The record of a round fitted now. */
export function learnedRecord(learnedWith: LearnedWith, first: SampleShape, trainedOn: number, options: object): LearnedRecord {
  const numbers = Object.fromEntries(Object.entries(options).filter((entry): entry is [string, number] => typeof entry[1] === "number"));
  return {
    ...learnedWith,
    created: new Date().toISOString(),
    trainedOn,
    input: { dims: first.dims, layout: first.layout },
    preprocessing: first.preprocessing,
    options: numbers,
  };
}

/** A method's model as the detector uses it; it owns `extractor` and releases it with the model. */
export function detectorModel(extractor: PatchExtractor, model: AnomalyModel, record: LearnedRecord, info: ModelInfo): DetectorModel {
  const shape = shapeOfRecord(record);
  return {
    info: { ...info, trainedOn: record.trainedOn, created: record.created },
    check: (sample) => checkSample(shape, sample, "model"),
    inspect: (tensor) => model.inspect(tensor),
    async release() {
      await model.release();
      await extractor.release();
    },
  };
}
