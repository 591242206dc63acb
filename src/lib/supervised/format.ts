/**
 * Which adapter a model needs, from its output shapes and (Ultralytics) metadata. The rules are in
 * docs: one [1,C] output = classification; one rank-3 output = detection (v8/11 channel-first
 * [1,4+nc,N], v5 rows [1,N,5+nc], end-to-end [1,N,6]); a rank-3 plus a rank-4 output = YOLO-seg;
 * one [1,C,H,W] output = semantic segmentation, unless it has the input's shape: then it may as well be
 * an autoencoder (reconstruction), and only the task option decides.
 */
import { DefectError } from "../errors";
import { type TensorSpec, formatShape } from "../onnx/feeds";
import type { InputDescription } from "./family-preprocess";
import { ambiguousReconstruction, fitsInputShape, isReconstructionShaped } from "./reconstruction";
import type { SupervisedTask, TaskChoice } from "./types";
import { END_TO_END_VALUES, V5_BOX_VALUES, V8_BOX_ROWS } from "./yolo-decode";

export type HeadLayout = "v8" | "v5" | "end2end";

export interface DetectionHead {
  layout: HeadLayout;
  /** Class scores per box; null for end-to-end heads, which carry the class index instead. */
  nc: number | null;
  /** Values per box after the class scores (mask coefficients, keypoints). */
  extra: number;
}

export type ModelFormat =
  | { task: "classify"; output: string; classes: number | null }
  | { task: "semantic"; output: string; classes: number | null }
  | { task: "reconstruction"; output: string }
  | {
      task: "detect" | "segment";
      output: string;
      /** Prototype masks [1,32,h,w] (segment only). */
      protos: string | null;
      protoChannels: number;
      /** null when the graph leaves both sizes symbolic: decided from the first result's shape. */
      head: DetectionHead | null;
    };

export interface FormatHints {
  task: TaskChoice;
  /** The graph's image input: a reconstruction's output has its shape. */
  input: InputDescription;
  metadata: Readonly<Record<string, string>>;
  /** Class count the metadata names give; resolves ambiguous heads. */
  classCount: number | null;
  /** Use this output rather than guessing (graphs with several candidate outputs). */
  outputName?: string;
}

export interface DetectedFormat {
  format: ModelFormat;
  warnings: string[];
}

/** End-to-end heads hold max_det rows (300 by default); anchor grids of v5 exports hold thousands. */
export const END_TO_END_MAX_ROWS = 1000;
/** YOLO-seg prototype channels when the graph leaves them symbolic. */
export const DEFAULT_PROTO_CHANNELS = 32;
const ULTRALYTICS_TASKS: Readonly<Record<string, SupervisedTask>> = { classify: "classify", detect: "detect", segment: "segment" };
const KNOWN_FORMATS =
  "known: classification [1,C]; YOLOv8/11 detection [1,4+nc,N]; YOLOv5 detection [1,N,5+nc]; end-to-end detection [1,N,6]; " +
  "YOLO instance segmentation [1,4+nc+32,N] + [1,32,h,w]; semantic segmentation [1,C,H,W]";

type Shape = ReadonlyArray<number | string>;

export function describeOutputs(outputs: readonly TensorSpec[]): string {
  return outputs.map((o) => `${o.name} ${o.shape.length > 0 ? formatShape(o.shape) : "[?]"}`).join("; ") || "none";
}

export function unknownFormat(modelName: string, problem: string, outputs: readonly TensorSpec[]): DefectError {
  const listed = describeOutputs(outputs);
  return new DefectError(
    "unknownModelFormat",
    `model "${modelName}" has no known output format: ${problem} (outputs: ${listed}; ${KNOWN_FORMATS}; set the task to override)`,
    { model: modelName, outputs: listed },
  );
}

/** Ultralytics end-to-end (YOLOv10/YOLO26) or nms=True exports. */
export function isEndToEnd(metadata: Readonly<Record<string, string>>): boolean {
  return metadata["end2end"] === "True" || /['"]nms['"]\s*:\s*True/.test(metadata["args"] ?? "");
}

const isSize = (d: number | string | undefined): d is number => typeof d === "number";
const isClassVector = (s: Shape): boolean => s.length === 2 || (s.length === 4 && s[2] === 1 && s[3] === 1);
const isMap = (s: Shape): boolean => s.length === 4 && !isClassVector(s);

/** The outputs a task is looked for in: all, or the one named (with a detection head's prototypes). */
function candidateOutputs(modelName: string, outputs: readonly TensorSpec[], hints: FormatHints): readonly TensorSpec[] {
  if (hints.outputName === undefined) return outputs;
  const chosen = outputs.find((o) => o.name === hints.outputName);
  if (chosen === undefined) throw unknownFormat(modelName, `it has no output "${hints.outputName}"`, outputs);
  const protos = outputs.filter((o) => o !== chosen && o.shape.length === 4);
  return chosen.shape.length === 3 ? [chosen, ...protos] : [chosen];
}

/**
 * The output that "auto" cannot read from shapes alone (an autoencoder's or a same-shape semantic
 * segmenter's), or undefined when the shapes or the settings decide. The caller may settle it by
 * running the model (reconstruction-probe.ts) and passing the task it found.
 */
export function sameShapeAmbiguity(modelName: string, outputs: readonly TensorSpec[], hints: FormatHints): TensorSpec | undefined {
  if (hints.task !== "auto" || hints.metadata["task"] !== undefined) return undefined;
  const pool = candidateOutputs(modelName, outputs, hints);
  const [only] = pool;
  if (pool.length !== 1 || only === undefined) return undefined;
  return isMap(only.shape) && isReconstructionShaped(only.shape, hints.input) ? only : undefined;
}

export function detectFormat(modelName: string, outputs: readonly TensorSpec[], hints: FormatHints): DetectedFormat {
  const warnings: string[] = [];
  const pool = candidateOutputs(modelName, outputs, hints);
  const task = chooseTask(modelName, pool, outputs, hints);
  const pick = (what: string, fits: (s: Shape) => boolean): TensorSpec => {
    const found = pool.filter((o) => fits(o.shape));
    const [only] = found;
    if (found.length === 1 && only !== undefined) return only;
    const problem =
      found.length === 0 ? `no output has the shape of ${what}` : `outputs ${found.map((o) => o.name).join(", ")} could all be ${what}; name one as the output`;
    throw unknownFormat(modelName, `for task "${task}", ${problem}`, outputs);
  };
  switch (task) {
    case "classify": {
      const out = pick("class scores [1,C]", isClassVector);
      return { format: { task, output: out.name, classes: isSize(out.shape[1]) ? out.shape[1] : null }, warnings };
    }
    case "semantic": {
      const out = pick("a class map [1,C,H,W]", isMap);
      return { format: { task, output: out.name, classes: isSize(out.shape[1]) ? out.shape[1] : null }, warnings };
    }
    case "reconstruction": {
      const out = pick(`the input ${formatShape(hints.input.shape.map((d) => d ?? "?"))}`, (s) => fitsInputShape(s, hints.input));
      return { format: { task, output: out.name }, warnings };
    }
    case "detect":
    case "segment": {
      const head = pick("a detection head [1,A,B]", (s) => s.length === 3);
      const protos = task === "segment" ? pick("prototype masks [1,32,h,w]", (s) => s.length === 4) : null;
      // Run as a detector, a seg export still has mask coefficients after the class scores.
      const unread = protos === null && pool.length === 2 ? pool.find((o) => o.shape.length === 4) : undefined;
      const protoSpec = protos ?? unread;
      const protoChannels = protoSpec === undefined ? 0 : isSize(protoSpec.shape[1]) ? protoSpec.shape[1] : DEFAULT_PROTO_CHANNELS;
      const layout = resolveHead(modelName, head.shape, protoChannels, hints, outputs);
      return { format: { task, output: head.name, protos: protos?.name ?? null, protoChannels, head: layout }, warnings };
    }
  }
}

function chooseTask(modelName: string, pool: readonly TensorSpec[], outputs: readonly TensorSpec[], hints: FormatHints): SupervisedTask {
  if (hints.task !== "auto") return hints.task;
  const declared = hints.metadata["task"];
  if (declared !== undefined) {
    const task = ULTRALYTICS_TASKS[declared];
    if (task === undefined) {
      throw unknownFormat(modelName, `its metadata task "${declared}" is not supported (supported: ${Object.keys(ULTRALYTICS_TASKS).join(", ")})`, outputs);
    }
    return task;
  }
  const shapes = pool.map((o) => o.shape);
  const [first] = shapes;
  const [only] = pool;
  if (shapes.length === 1 && first !== undefined && only !== undefined) {
    if (isClassVector(first)) return "classify";
    if (first.length === 3) return "detect";
    if (isMap(first)) {
      if (isReconstructionShaped(first, hints.input)) throw ambiguousReconstruction(modelName, only.name, first, hints.input);
      return "semantic";
    }
  }
  if (shapes.length === 2 && shapes.some((s) => s.length === 3) && shapes.some((s) => s.length === 4)) return "segment";
  throw unknownFormat(modelName, "no rule matches these output shapes", outputs);
}

/**
 * Layout of a rank-3 detection head [1,A,B]. Channel-first (A < B) is v8/11; rows (A > B) are v5, or
 * end-to-end when the metadata says so or B = 6 with few rows. The metadata's class count settles a
 * square head and keeps extra per-box values (keypoints) out of the class scores.
 */
export function resolveHead(
  modelName: string,
  shape: Shape,
  protoChannels: number,
  hints: Pick<FormatHints, "classCount" | "metadata">,
  outputs: readonly TensorSpec[],
): DetectionHead | null {
  const a = shape[1];
  const b = shape[2];
  const nc = hints.classCount;
  const fail = (problem: string): DefectError => unknownFormat(modelName, `detection head ${formatShape(shape)}: ${problem}`, outputs);
  if (isEndToEnd(hints.metadata)) {
    if (!isSize(b) || b < END_TO_END_VALUES + protoChannels) throw fail(`an end-to-end head needs ${END_TO_END_VALUES + protoChannels} values per box`);
    return { layout: "end2end", nc: null, extra: b - END_TO_END_VALUES };
  }
  const v8 = (rows: number): DetectionHead => {
    const classes = nc !== null && rows - V8_BOX_ROWS - nc >= protoChannels ? nc : rows - V8_BOX_ROWS - protoChannels;
    if (classes < 1) throw fail(`${rows} rows leave no class scores after cx, cy, w, h${protoChannels > 0 ? ` and ${protoChannels} mask coefficients` : ""}`);
    return { layout: "v8", nc: classes, extra: rows - V8_BOX_ROWS - classes };
  };
  const v5 = (width: number): DetectionHead => {
    const classes = nc !== null && width - V5_BOX_VALUES - nc >= protoChannels ? nc : width - V5_BOX_VALUES - protoChannels;
    if (classes < 1) throw fail(`${width} values per box leave no class scores after cx, cy, w, h, objectness`);
    return { layout: "v5", nc: classes, extra: width - V5_BOX_VALUES - classes };
  };
  if (isSize(a) && isSize(b)) {
    if (a < b) return v8(a);
    if (a > b) {
      const v5Fits = nc !== null && b === V5_BOX_VALUES + nc + protoChannels;
      if (b === END_TO_END_VALUES + protoChannels && a <= END_TO_END_MAX_ROWS && !v5Fits) return { layout: "end2end", nc: null, extra: protoChannels };
      return v5(b);
    }
    if (nc !== null && a === V8_BOX_ROWS + nc + protoChannels) return v8(a);
    if (nc !== null && b === V5_BOX_VALUES + nc + protoChannels) return v5(b);
    throw fail("a square head is ambiguous without the class names in the metadata");
  }
  if (isSize(a)) return v8(a);
  if (isSize(b)) return v5(b);
  return null;
}
