/**
 * Opens a supervised ONNX model (classifier, YOLO detector, YOLO-seg, semantic segmenter, autoencoder), works
 * out its format and preprocessing, and turns a preprocessed tensor into a SupervisedResult.
 * Sessions come from the shared cache, so detector nodes on one file share one session.
 */
import { DefectError, describeError } from "../errors";
import type { Tensor, Transform } from "../image/types";
import { formatShape } from "../onnx/feeds";
import { type ModelHandle, type SessionOptions, acquireModel, acquireModelFromBytes } from "../onnx/session";
import { toProbabilities, topK } from "./classify";
import { detectCandidates, placeBox } from "./detect-boxes";
import { type InputDescription, describeInput, suggestPreprocess } from "./family-preprocess";
import { type DetectionHead, type FormatHints, type ModelFormat, detectFormat, resolveHead, sameShapeAmbiguity } from "./format";
import { readOutput, toFeed } from "./io";
import { parseOnnxMetadata, readOnnxMetadata } from "./metadata";
import { defaultClassName, parsePythonNames, readNamesFile, resolveClassNames } from "./names";
import { type ResolvedSupervisedOptions, resolveSupervisedOptions } from "./options";
import { decodeReconstruction } from "./reconstruction";
import { probeSameShapeOutput } from "./reconstruction-probe";
import { decodeInstanceSegmentation } from "./segment-instance";
import { decodeSemantic } from "./semantic";
import type { Box, SupervisedModel, SupervisedOptions, SupervisedResult } from "./types";

export type OpenSupervisedOptions = Partial<SupervisedOptions> & { intraOpThreads?: number };

const BATCH_AXIS = 0;

export async function openSupervisedModel(modelPath: string, options: OpenSupervisedOptions = {}): Promise<SupervisedModel> {
  const resolved = resolveSupervisedOptions(options);
  const handle = await acquireModel(modelPath, sessionOptions(options));
  return finishOpen(handle, () => readOnnxMetadata(handle.path), resolved);
}

/** A model built in memory (tests, benchmarks); `key` names it in the session cache and in messages. */
export async function openSupervisedModelFromBytes(key: string, bytes: Uint8Array, options: OpenSupervisedOptions = {}): Promise<SupervisedModel> {
  const resolved = resolveSupervisedOptions(options);
  const handle = await acquireModelFromBytes(key, bytes, sessionOptions(options));
  return finishOpen(handle, () => parseOnnxMetadata(bytes, key), resolved);
}

function sessionOptions(options: OpenSupervisedOptions): SessionOptions {
  return options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads };
}

async function finishOpen(
  handle: ModelHandle,
  readMetadata: () => Promise<Record<string, string>>,
  options: ResolvedSupervisedOptions,
): Promise<SupervisedModel> {
  try {
    const metadata = await readMetadata();
    const warnings: string[] = [];
    const metadataNames = namesFromMetadata(metadata, warnings);
    const input = describeInput(handle.name, handle.inputs);
    const hints: FormatHints = {
      task: options.task,
      input,
      metadata,
      classCount: metadataNames?.length ?? null,
      ...(options.outputName === undefined ? {} : { outputName: options.outputName }),
    };
    const ambiguous = sameShapeAmbiguity(handle.name, handle.outputs, hints);
    if (ambiguous !== undefined) {
      const verdict = await probeSameShapeOutput(handle, input, ambiguous.name);
      // Still ambiguous: detectFormat refuses it, naming the Task setting that decides.
      if (verdict !== "ambiguous") {
        hints.task = verdict;
        warnings.push(probeWarning(handle.name, ambiguous.name, verdict));
      }
    }
    const detected = detectFormat(handle.name, handle.outputs, hints);
    warnings.push(...detected.warnings);
    const fileNames = options.namesFile === undefined || (options.classNames?.length ?? 0) > 0 ? undefined : await readNamesFile(options.namesFile);
    const names = resolveClassNames(
      { ...optional("editor", options.classNames), ...optional("file", fileNames), ...optional("metadata", metadataNames) },
      classCount(detected.format, metadataNames),
    );
    warnings.push(...names.warnings);
    const metadataClassCount = metadataNames?.length ?? null;
    return createModel(handle, {
      input,
      format: detected.format,
      metadata,
      metadataClassCount,
      names: names.names,
      namesSource: names.source,
      warnings,
      options,
    });
  } catch (error) {
    await handle.release();
    throw error;
  }
}

/** Says how "auto" decided, since the graph's shapes alone could not, and how to overrule it. */
function probeWarning(modelName: string, output: string, verdict: "reconstruction" | "semantic"): string {
  const how =
    verdict === "reconstruction"
      ? "gave a test pattern back (an autoencoder): read as reconstruction"
      : "gave class probabilities for a test pattern: read as semantic segmentation";
  return `model "${modelName}": output "${output}" has its input's shape and ${how}; set the task to say otherwise`;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

function namesFromMetadata(metadata: Readonly<Record<string, string>>, warnings: string[]): string[] | undefined {
  const text = metadata["names"];
  if (text === undefined) return undefined;
  try {
    return parsePythonNames(text);
  } catch (error) {
    // Predictions still work without names, so a damaged entry only costs the labels.
    warnings.push(`${describeError(error)}; classes are named "class N"`);
    return undefined;
  }
}

function classCount(format: ModelFormat, metadataNames: readonly string[] | undefined): number | null {
  if (format.task === "classify" || format.task === "semantic") return format.classes;
  // An autoencoder has no classes: its map says where, not what.
  if (format.task === "reconstruction") return 0;
  return format.head?.nc ?? metadataNames?.length ?? null;
}

interface ModelParts {
  input: InputDescription;
  format: ModelFormat;
  metadata: Record<string, string>;
  /** Class count of the metadata names (the exporter's), for heads resolved on the first result. */
  metadataClassCount: number | null;
  names: string[];
  namesSource: SupervisedModel["namesSource"];
  warnings: string[];
  options: ResolvedSupervisedOptions;
}

function layoutName(format: ModelFormat, head: DetectionHead | null): string {
  if (format.task === "classify" || format.task === "semantic" || format.task === "reconstruction") return format.task;
  if (head === null) return "pending";
  const base = head.layout === "end2end" ? "end2end" : `yolo${head.layout}`;
  return format.task === "segment" ? `${base}-seg` : base;
}

function createModel(handle: ModelHandle, parts: ModelParts): SupervisedModel {
  const { input, format, names, options } = parts;
  const nameOf = (index: number): string => names[index] ?? defaultClassName(index);
  const outputNames =
    format.task === "detect" || format.task === "segment" ? [format.output, ...(format.protos === null ? [] : [format.protos])] : [format.output];
  let head: DetectionHead | null = format.task === "detect" || format.task === "segment" ? format.head : null;
  const model: SupervisedModel = {
    path: handle.path,
    task: format.task,
    names,
    inputName: input.name,
    inputType: input.type,
    inputShape: input.shape,
    preprocess: suggestPreprocess(format.task, input, parts.metadata),
    metadata: parts.metadata,
    get layout() {
      return layoutName(format, head);
    },
    namesSource: parts.namesSource,
    warnings: parts.warnings,
    async predict(tensor: Tensor, transform?: Transform): Promise<SupervisedResult> {
      const tensorSize = checkTensor(handle.name, input, tensor);
      const feed = toFeed(tensor, input.type);
      const results = await handle.run({ [input.name]: feed }, outputNames);
      const output = readOutput(handle.name, format.output, results[format.output]);
      switch (format.task) {
        case "classify": {
          const classes = topK(toProbabilities(output.data), options.topK, nameOf);
          return { task: "classify", score: classes[0]?.score ?? 0, classes, boxes: [], masks: [], map: null };
        }
        case "semantic": {
          const semantic = decodeSemantic(output, { names, backgroundClass: options.backgroundClass }, tensorSize);
          return { task: "semantic", score: semantic.score, classes: semantic.classes, boxes: [], masks: [], map: semantic.map };
        }
        case "reconstruction": {
          // Compared with what the graph was fed (float16-rounded, or uint8-rounded and clamped), not the float tensor.
          const fed = readOutput(handle.name, input.name, feed);
          const reconstruction = decodeReconstruction(handle.name, output, fed, input.layout, options.reconstructionScore);
          return { task: "reconstruction", score: reconstruction.score, classes: [], boxes: [], masks: [], map: reconstruction.map };
        }
        case "detect":
        case "segment": {
          head ??= resolveHead(
            handle.name,
            output.dims,
            format.protoChannels,
            { classCount: parts.metadataClassCount, metadata: parts.metadata },
            handle.outputs,
          );
          if (head === null)
            throw new DefectError("inferenceFailed", `model "${handle.name}" output "${format.output}" has shape ${formatShape(output.dims)}`, {
              model: handle.name,
            });
          if (format.task === "segment" && format.protos !== null) {
            if (head.layout !== "v8") {
              throw new DefectError(
                "unknownModelFormat",
                `model "${handle.name}": instance segmentation reads YOLOv8/11-seg heads [1,4+nc+32,N]; this ${head.layout} head ${formatShape(output.dims)} can run with task "detect"`,
                { model: handle.name },
              );
            }
            const protos = readOutput(handle.name, format.protos, results[format.protos]);
            const seg = decodeInstanceSegmentation(
              output,
              protos,
              { nc: head.nc ?? 0, confidence: options.confidence, iou: options.iou, maxDetections: options.maxDetections, names },
              tensorSize,
              transform,
            );
            return { task: "segment", score: seg.boxes[0]?.score ?? 0, classes: [], boxes: seg.boxes, masks: seg.masks, map: seg.map };
          }
          const boxes = detectCandidates(output, head, options)
            .map((c) => placeBox(c, nameOf, tensorSize, transform))
            .filter((b): b is Box => b !== null);
          return { task: "detect", score: boxes[0]?.score ?? 0, classes: [], boxes, masks: [], map: null };
        }
      }
    },
    release: () => handle.release(),
  };
  return model;
}

/** One image in the graph's layout with its channel count; returns the tensor size in pixels. */
function checkTensor(modelName: string, input: InputDescription, tensor: Tensor): { width: number; height: number } {
  const dims = tensor.dims;
  const nhwc = tensor.layout === "NHWC";
  const channels = nhwc ? dims[3] : dims[1];
  const height = nhwc ? dims[1] : dims[2];
  const width = nhwc ? dims[2] : dims[3];
  const ok =
    dims.length === 4 && dims[BATCH_AXIS] === 1 && tensor.layout === input.layout && channels === input.channels && height !== undefined && width !== undefined;
  if (!ok || height === undefined || width === undefined) {
    const expected = input.layout === "NHWC" ? `NHWC [1,H,W,${input.channels}]` : `NCHW [1,${input.channels},H,W]`;
    const actual = `${tensor.layout} ${formatShape(dims)}`;
    throw new DefectError("inputShapeMismatch", `model "${modelName}" input "${input.name}" expects one image ${expected} (got ${actual})`, {
      model: modelName,
      input: input.name,
      expected,
      actual,
    });
  }
  return { width, height };
}
