/**
 * Opens an anomalib ONNX export of any version, works out which contract it follows, and
 * predicts on anomalib's normalised scale, so the nodes downstream never see the version.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import type { Tensor } from "../../image/types";
import { formatShape } from "../../onnx/feeds";
import { type ModelHandle, acquireModel } from "../../onnx/session";
import type { Size, V0Transform } from "./albumentations";
import { type Contract, detectContract, detectInput } from "./detect";
import { type AnomalibMetadata, findMetadataFile, readAnomalibMetadata } from "./metadata";
import { type AnomalibPrediction, type Outputs, postprocessRaw, postprocessV2 } from "./postprocess";

export type AnomalibVersion = "v0" | "v1" | "v2";

/** What the caller must feed: an image tensor built with these settings (PreprocessOptions terms). */
export interface AnomalibPreprocess {
  /** Tensor size; null where the graph takes any size (1.x/2.x resize inside the graph). */
  width: number | null;
  height: number | null;
  color: "rgb";
  layout: "NCHW";
  /** value = (pixel / maxPixelValue * scale - mean[c]) / std[c]. */
  scale: number;
  mean: number[];
  std: number[];
  /**
   * 0.x pipelines with a CenterCrop: the size the image is stretched to before the centre
   * width x height is cut out. null: stretch the image straight to width x height.
   */
  centerCropFrom: Size | null;
}

export interface AnomalibModel {
  readonly path: string;
  readonly version: AnomalibVersion;
  /** Graph input name ("input" in every anomalib export). */
  readonly inputName: string;
  /** Fixed input size from the graph, or from the 0.x transform; null when any size is accepted. */
  readonly inputSize: Size | null;
  readonly preprocess: AnomalibPreprocess;
  /** metadata.json as read (0.x/1.x); null for 2.x. */
  readonly metadata: AnomalibMetadata | null;
  /** Things the caller may want to log: assumptions made, metadata parts not applied. */
  readonly warnings: readonly string[];
  /** One image: a [1,3,H,W] NCHW tensor built as `preprocess` says. */
  predict(tensor: Tensor): Promise<AnomalibPrediction>;
  /** Frees the session (shared sessions when the last holder lets go); idempotent. */
  release(): Promise<void>;
}

export interface OpenAnomalibOptions {
  /** metadata.json of a 0.x/1.x export; defaults to the one beside the model. */
  metadataPath?: string;
  intraOpThreads?: number;
}

/** 1.x and 2.x take [0,1] RGB and normalise inside the graph. */
const IDENTITY_MEAN = [0, 0, 0];
const IDENTITY_STD = [1, 1, 1];
/** What 0.x configs used when the metadata predates the stored transform. */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Pixel scale PreprocessOptions divides 8-bit values by. */
const EIGHT_BIT_MAX = 255;
const BATCH_AXIS = 0;

export async function openAnomalibModel(modelPath: string, options: OpenAnomalibOptions = {}): Promise<AnomalibModel> {
  const threads = options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads };
  const handle = await acquireModel(modelPath, threads);
  try {
    const input = detectInput(handle.name, handle.inputs, handle.outputs);
    const contract = detectContract(handle.name, handle.inputs, handle.outputs);
    const warnings: string[] = [];
    let metadata: AnomalibMetadata | null = null;
    if (contract.kind === "raw") {
      metadata = await readAnomalibMetadata(await findMetadataFile(handle.path, options.metadataPath));
    } else if (options.metadataPath !== undefined) {
      warnings.push(`metadataPath ${options.metadataPath} is ignored: anomalib 2.x exports hold their thresholds in the graph`);
    }
    const version: AnomalibVersion = metadata?.format ?? "v2";
    const preprocess = describePreprocess(input.size, metadata?.format === "v0" ? metadata : null, warnings);
    const inputSize = preprocess.width !== null && preprocess.height !== null ? { width: preprocess.width, height: preprocess.height } : null;
    const order = handle.outputs.map((o) => o.name);
    const read = readerFor(handle.name, contract, metadata, order);
    return createModel(handle, { version, inputName: input.name, inputSize, preprocess, metadata, warnings, read });
  } catch (error) {
    await handle.release();
    throw error;
  }
}

interface ModelParts {
  version: AnomalibVersion;
  inputName: string;
  inputSize: Size | null;
  preprocess: AnomalibPreprocess;
  metadata: AnomalibMetadata | null;
  warnings: string[];
  read: (outputs: Outputs) => AnomalibPrediction;
}

function readerFor(
  modelName: string,
  contract: Contract,
  metadata: AnomalibMetadata | null,
  order: readonly string[],
): (outputs: Outputs) => AnomalibPrediction {
  if (contract.kind === "v2") return (outputs) => postprocessV2(modelName, contract, outputs);
  if (metadata === null)
    throw new DefectError("modelLoadFailed", `model "${modelName}" has raw outputs but no metadata to normalise them with`, { model: modelName });
  return (outputs) => postprocessRaw(modelName, metadata, outputs, order);
}

function createModel(handle: ModelHandle, parts: ModelParts): AnomalibModel {
  return {
    path: handle.path,
    version: parts.version,
    inputName: parts.inputName,
    inputSize: parts.inputSize,
    preprocess: parts.preprocess,
    metadata: parts.metadata,
    warnings: parts.warnings,
    async predict(tensor) {
      checkTensor(handle.name, parts.inputName, tensor);
      const feed = new ort.Tensor("float32", tensor.data, tensor.dims);
      return parts.read(await handle.run({ [parts.inputName]: feed }));
    },
    release: () => handle.release(),
  };
}

/** Batch and layout checks the session cannot make: a symbolic batch axis accepts any batch. */
function checkTensor(modelName: string, inputName: string, tensor: Tensor): void {
  if (tensor.layout !== "NCHW" || tensor.dims[BATCH_AXIS] !== 1) {
    const actual = `${tensor.layout} ${formatShape(tensor.dims)}`;
    throw new DefectError("inputShapeMismatch", `model "${modelName}" input "${inputName}" expects one NCHW image [1,3,H,W] (got ${actual})`, {
      model: modelName,
      input: inputName,
      expected: "NCHW [1,3,H,W]",
      actual,
    });
  }
}

function describePreprocess(graphSize: Size | null, v0: AnomalibMetadata | null, warnings: string[]): AnomalibPreprocess {
  const common = { color: "rgb", layout: "NCHW" } as const;
  if (v0 === null) {
    return {
      ...common,
      width: graphSize?.width ?? null,
      height: graphSize?.height ?? null,
      scale: 1,
      mean: [...IDENTITY_MEAN],
      std: [...IDENTITY_STD],
      centerCropFrom: null,
    };
  }
  const transform = v0.transform;
  if (transform === null) {
    warnings.push(`${v0.path} stores no transform; assuming ImageNet normalisation (mean ${IMAGENET_MEAN.join(", ")}, std ${IMAGENET_STD.join(", ")})`);
    return {
      ...common,
      width: graphSize?.width ?? null,
      height: graphSize?.height ?? null,
      scale: 1,
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      centerCropFrom: null,
    };
  }
  if (transform.ignored.length > 0) warnings.push(`transform steps in ${v0.path} not reproduced: ${transform.ignored.join(", ")}`);
  const size = graphSize ?? transform.centerCrop ?? transform.resize;
  checkTransformSize(graphSize, transform, v0.path, warnings);
  return {
    ...common,
    width: size?.width ?? null,
    height: size?.height ?? null,
    // albumentations divides by max_pixel_value; PreprocessOptions divides 8-bit pixels by 255.
    scale: EIGHT_BIT_MAX / transform.maxPixelValue,
    mean: [...transform.mean],
    std: [...transform.std],
    centerCropFrom: transform.centerCrop === null ? null : transform.resize,
  };
}

function checkTransformSize(graphSize: Size | null, transform: V0Transform, file: string, warnings: string[]): void {
  const final = transform.centerCrop ?? transform.resize;
  if (graphSize !== null && final !== null && (final.width !== graphSize.width || final.height !== graphSize.height)) {
    warnings.push(
      `${file} transform ends at ${final.width}x${final.height} but the graph takes ${graphSize.width}x${graphSize.height}; the graph size is used`,
    );
  }
  if (transform.centerCrop !== null && transform.resize === null) {
    warnings.push(`${file} transform centre-crops without resizing first; the crop is not reproduced`);
  }
}
