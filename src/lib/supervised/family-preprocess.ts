/**
 * The model input and the preprocessing each model family was trained with:
 * - YOLO detect/segment (Ultralytics LetterBox): letterbox padded with 114, RGB, pixel/255, no mean/std;
 * - Ultralytics YOLOv8/11 classify (metadata task "classify"): resize the short side and centre-crop,
 *   RGB, pixel/255, no mean/std (classify_transforms' DEFAULT_MEAN 0, DEFAULT_STD 1);
 * - YOLOv5 classify (Ultralytics "stride" metadata, no task): centre-crop with ImageNet mean/std;
 * - reconstruction (autoencoders): stretch, values 0..1. Most are trained on ToTensor images and end in a
 *   sigmoid, which cannot reproduce ImageNet-normalised values: the error would be the normalisation's;
 * - anything else (torchvision-style classifiers and segmenters): stretch with ImageNet mean/std.
 * Size: fixed graph input, else the metadata "imgsz", else 640 (YOLO) or 224.
 */
import { DefectError } from "../errors";
import { type TensorSpec, formatShape } from "../onnx/feeds";
import type { PreprocessOptions, TensorLayout } from "../image/types";
import { parsePythonLiteral } from "./python-literal";
import type { SupervisedInputType, SupervisedTask } from "./types";

export interface InputDescription {
  name: string;
  type: SupervisedInputType;
  /** Graph shape, null where a dim is symbolic. */
  shape: (number | null)[];
  layout: TensorLayout;
  channels: 1 | 3;
  width: number | null;
  height: number | null;
}

export const YOLO_DEFAULT_SIZE = 640;
export const CLASSIFIER_DEFAULT_SIZE = 224;
export const YOLO_PAD_VALUE = 114;
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Raw 0..255 values for uint8 inputs: PreprocessOptions computes pixel / 255 * scale. */
const EIGHT_BIT_SCALE = 255;
const INPUT_RANK = 4;
const INPUT_TYPES: readonly SupervisedInputType[] = ["float32", "float16", "uint8"];

const sizeOf = (d: number | string | undefined): number | null => (typeof d === "number" && d > 0 ? d : null);
const isChannelCount = (d: number | null): d is 1 | 3 => d === 1 || d === 3;

export function describeInput(modelName: string, inputs: readonly TensorSpec[]): InputDescription {
  const [input] = inputs;
  const listed = inputs.map((i) => `${i.name} ${i.type}${formatShape(i.shape)}`).join("; ") || "none";
  if (inputs.length !== 1 || input === undefined) {
    throw new DefectError("unknownModelFormat", `model "${modelName}" must have one image input, it has ${inputs.length} (inputs: ${listed})`, {
      model: modelName,
      inputs: listed,
    });
  }
  const type = INPUT_TYPES.find((t) => t === input.type);
  if (type === undefined) {
    throw new DefectError("inputTypeMismatch", `model "${modelName}" input "${input.name}" is ${input.type}; supported: ${INPUT_TYPES.join(", ")}`, {
      model: modelName,
      input: input.name,
      expected: INPUT_TYPES.join(", "),
      actual: input.type,
    });
  }
  const shape = input.shape.map(sizeOf);
  if (input.shape.length !== INPUT_RANK) {
    throw new DefectError(
      "inputShapeMismatch",
      `model "${modelName}" input "${input.name}" must be an image [1,C,H,W] or [1,H,W,C], got ${formatShape(input.shape)}`,
      {
        model: modelName,
        input: input.name,
        expected: "[1,C,H,W]",
        actual: formatShape(input.shape),
      },
    );
  }
  const [, d1 = null, d2 = null, d3 = null] = shape;
  // Channel-last only when the last axis is a channel count and the second is not (TF/Keras exports).
  const nhwc = isChannelCount(d3) && !isChannelCount(d1);
  const channels = nhwc ? d3 : isChannelCount(d1) ? d1 : 3;
  return {
    name: input.name,
    type,
    shape,
    layout: nhwc ? "NHWC" : "NCHW",
    channels,
    height: nhwc ? d1 : d2,
    width: nhwc ? d2 : d3,
  };
}

/** Metadata "imgsz": "[640, 640]" (h, w) or "640". */
export function parseImageSize(text: string | undefined): { width: number; height: number } | null {
  if (text === undefined) return null;
  const single = /^\s*(\d+)\s*$/.exec(text);
  if (single !== null) return { width: Number(single[1]), height: Number(single[1]) };
  try {
    const literal = parsePythonLiteral(text, 'ONNX metadata "imgsz"');
    if (literal.kind !== "list") return null;
    const [h, w = h] = literal.items;
    if (typeof h === "number" && typeof w === "number" && h > 0 && w > 0) return { width: w, height: h };
  } catch {
    // An unreadable imgsz only loses a default size.
  }
  return null;
}

export function isUltralytics(metadata: Readonly<Record<string, string>>): boolean {
  return metadata["stride"] !== undefined || /ultralytics/i.test(metadata["author"] ?? "");
}

export function suggestPreprocess(task: SupervisedTask, input: InputDescription, metadata: Readonly<Record<string, string>>): PreprocessOptions {
  const yolo = task === "detect" || task === "segment";
  const fallback = yolo ? YOLO_DEFAULT_SIZE : CLASSIFIER_DEFAULT_SIZE;
  const imgsz = parseImageSize(metadata["imgsz"]);
  const width = input.width ?? imgsz?.width ?? fallback;
  const height = input.height ?? imgsz?.height ?? fallback;
  const gray = input.channels === 1;
  const ultralyticsClassify = task === "classify" && metadata["task"] === "classify";
  const yolov5Classify = task === "classify" && !ultralyticsClassify && isUltralytics(metadata);
  const plain = yolo || ultralyticsClassify || gray || task === "reconstruction";
  const channelValues = (values: readonly number[]): number[] => (gray ? [values[0]!] : [...values]);
  const base: PreprocessOptions = {
    width,
    height,
    resize: yolo ? "letterbox" : ultralyticsClassify || yolov5Classify ? "center-crop" : "stretch",
    kernel: "linear",
    padValue: YOLO_PAD_VALUE,
    roi: null,
    color: gray ? "gray" : "rgb",
    layout: input.layout,
    scale: 1,
    mean: channelValues(plain ? [0, 0, 0] : IMAGENET_MEAN),
    std: channelValues(plain ? [1, 1, 1] : IMAGENET_STD),
  };
  if (input.type === "uint8") return { ...base, scale: EIGHT_BIT_SCALE, mean: channelValues([0, 0, 0]), std: channelValues([1, 1, 1]) };
  return base;
}
