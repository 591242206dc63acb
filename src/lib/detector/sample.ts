/**
 * Checking that a sample can be compared with what a model learned: the same tensor shape and,
 * where both are known, the same preprocessing. A model fed anything else would still answer,
 * just with wrong scores. (The sample itself is read from the message in src/lib/message.)
 */
import { DefectError } from "../errors";
import type { PreprocessOptions, TensorLayout } from "../image/types";
import { formatShape } from "../onnx/feeds";
import type { Sample } from "./types";

/** What every sample of a model or round must share. */
export interface SampleShape {
  dims: number[];
  layout: TensorLayout;
  /** null when the learning samples did not say how they were made. */
  preprocessing: PreprocessOptions | null;
}

export function shapeOf(sample: Sample): SampleShape {
  return { dims: [...sample.tensor.dims], layout: sample.tensor.layout, preprocessing: sample.preprocessing ?? null };
}

function describeTensor(dims: readonly number[], layout: TensorLayout): string {
  return `${layout} ${formatShape(dims)}`;
}

function shown(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Fields that make different tensors; the pad value only matters where there is padding. */
export function preprocessDifferences(learned: PreprocessOptions, given: PreprocessOptions): string[] {
  const keys: Array<keyof PreprocessOptions> = ["width", "height", "resize", "kernel", "roi", "color", "layout", "scale", "mean", "std"];
  if (learned.resize === "letterbox" || given.resize === "letterbox") keys.push("padValue");
  return keys
    .filter((key) => JSON.stringify(learned[key]) !== JSON.stringify(given[key]))
    .map((key) => `${key} ${shown(given[key])} (learned with ${shown(learned[key])})`);
}

/** Who the sample is compared with, in the words of the error messages. */
const AGAINST = {
  model: { shape: "the model was learned on", preprocessing: "the preprocessing the model was learned with" },
  round: { shape: "this learning round started with", preprocessing: "the preprocessing of this learning round's first image" },
} as const;

/** Throws when `sample` cannot be compared with samples of `shape`. */
export function checkSample(shape: SampleShape, sample: Sample, against: keyof typeof AGAINST): void {
  const { tensor } = sample;
  const words = AGAINST[against];
  if (tensor.layout !== shape.layout || formatShape(tensor.dims) !== formatShape(shape.dims)) {
    const expected = describeTensor(shape.dims, shape.layout);
    const actual = describeTensor(tensor.dims, tensor.layout);
    throw new DefectError("inputShapeMismatch", `the tensor is ${actual} but ${words.shape} ${expected}: preprocess every image the same way`, {
      expected,
      actual,
    });
  }
  if (shape.preprocessing === null || sample.preprocessing === undefined) return;
  const differences = preprocessDifferences(shape.preprocessing, sample.preprocessing);
  if (differences.length > 0) {
    throw new DefectError("preprocessMismatch", `msg.preprocessing differs from ${words.preprocessing}: ${differences.join("; ")}`, {
      differences: differences.join("; "),
    });
  }
}
