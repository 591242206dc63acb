/**
 * Supervised ONNX models for the detector (classification, YOLO detection and segmentation,
 * semantic segmentation, reconstruction): the model is a file trained elsewhere, so nothing is learned or saved.
 */
import { basename } from "node:path";
import { DefectError } from "../../errors";
import type { PreprocessOptions, Tensor } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import { formatShape } from "../../onnx/feeds";
import { openSupervisedModel } from "../../supervised";
import type { SupervisedModel, SupervisedResult } from "../../supervised/types";
import type { SupervisedConfig } from "../options";
import type { DetectorSetting, FixedMethod, Inspection, Sample } from "../types";

export interface SupervisedMethodConfig {
  setting: DetectorSetting;
  /** Absolute path of the ONNX model. */
  modelFile: string;
  /** Absolute path of the class-names file, or "" for none. */
  namesFile: string;
  options: SupervisedConfig;
  session: SessionOptions;
}

/** Class names listed in the deploy log line; COCO-sized lists are cut. */
const MAX_NAMES_SHOWN = 10;

/**
 * The tensor must fit the graph where the graph fixes a size: onnxruntime would reject it too,
 * but in words about feeds rather than about the preprocess node that made the tensor.
 */
function checkShape(file: string, model: SupervisedModel, tensor: Tensor): void {
  const shape = model.inputShape;
  const layout = model.preprocess.layout;
  const fits = tensor.layout === layout && shape.length === tensor.dims.length && shape.every((d, i) => d === null || d === tensor.dims[i]);
  if (fits) return;
  const expected = `${layout} ${formatShape(shape.map((d) => d ?? "?"))}`;
  const found = `${tensor.layout} ${formatShape(tensor.dims)}`;
  throw new DefectError(
    "inputShapeMismatch",
    `the tensor is ${found} but the model ${file} takes ${expected}: set the preprocess node to ${describePreprocess(model.preprocess)}`,
    { expected, actual: found },
  );
}

/** The suggested preprocessing in the preprocess node's words, for hints and error messages. */
export function describePreprocess(p: PreprocessOptions): string {
  const normalise = p.mean.every((m) => m === 0) && p.std.every((s) => s === 1) ? "values 0..1" : `mean [${p.mean.join(",")}] std [${p.std.join(",")}]`;
  const pad = p.resize === "letterbox" ? ` (pad ${p.padValue})` : "";
  return `${p.width}x${p.height} ${p.resize}${pad}, ${p.color.toUpperCase()} ${p.layout}, ${normalise}`;
}

/**
 * Only what decides whether results are meaningful at all is checked: the size (above) and,
 * for YOLO, letterboxing (the models are trained on letterboxed images: a stretched image
 * distorts every part, and the model misses or misplaces what it was trained to find). Mean and std are not checked: a model's ONNX file does not
 * say how it was trained, and a wrong guess here would block a model that works.
 */
function checkPreprocessing(file: string, model: SupervisedModel, sample: Sample): void {
  const given = sample.preprocessing;
  if (given === undefined || model.preprocess.resize !== "letterbox" || given.resize === "letterbox") return;
  const difference = `resize ${JSON.stringify(given.resize)} (the YOLO model ${file} expects "letterbox": use the preprocess preset yolo)`;
  throw new DefectError("preprocessMismatch", `msg.preprocessing does not fit the model ${file}: ${difference}`, { differences: difference });
}

/** One log line: what the model was taken for and how to preprocess for it. */
function describeModel(file: string, model: SupervisedModel): string {
  const names = model.names.slice(0, MAX_NAMES_SHOWN).join(", ") + (model.names.length > MAX_NAMES_SHOWN ? ", ..." : "");
  // An autoencoder has no classes to list.
  const classes = model.task === "reconstruction" ? "no classes" : `${model.names.length} classes (${names}, from ${model.namesSource})`;
  return `model ${file}: ${model.task} (${model.layout}), ${classes}; suggested preprocessing ${describePreprocess(model.preprocess)}`;
}

/** The name that sums the answer up: top class, top defect class or best box. */
function labelOf(result: SupervisedResult): string | undefined {
  if (result.task === "classify" || result.task === "semantic") return result.classes[0]?.name;
  let best = result.boxes[0];
  for (const box of result.boxes) if (best === undefined || box.score > best.score) best = box;
  return best?.name;
}

function toInspection(result: SupervisedResult): Inspection {
  const label = labelOf(result);
  return {
    score: result.score,
    map: result.map,
    timings: {},
    task: result.task,
    classes: result.classes,
    boxes: result.boxes,
    ...(label === undefined ? {} : { label }),
  };
}

export async function openSupervisedMethod(config: SupervisedMethodConfig): Promise<FixedMethod> {
  const { options } = config;
  // The editor's names win over the names file, which wins over the model's metadata.
  const model = await openSupervisedModel(config.modelFile, {
    task: options.task,
    confidence: options.confidence,
    iou: options.iou,
    maxDetections: options.maxDetections,
    topK: options.topK,
    reconstructionScore: options.reconstructionScore,
    ...(options.classNames === undefined ? {} : { classNames: options.classNames }),
    ...(config.namesFile === "" ? {} : { namesFile: config.namesFile }),
    ...(config.session.intraOpThreads === undefined ? {} : { intraOpThreads: config.session.intraOpThreads }),
  });
  const file = basename(config.modelFile);
  return {
    kind: "fixed",
    method: "onnx",
    warnings: model.warnings,
    notes: [describeModel(file, model)],
    model: {
      info: { file, task: model.task, classes: model.names.length },
      check(sample) {
        checkShape(file, model, sample.tensor);
        checkPreprocessing(file, model, sample);
      },
      async inspect(tensor, transform) {
        return toInspection(await model.predict(tensor, transform));
      },
      // Owned by the method: releasing the method releases the session.
      release: async () => undefined,
    },
    release: () => model.release(),
  };
}
