/**
 * `defect-detection predict`: one image through a supervised ONNX model (classification, YOLO
 * detection or segmentation, semantic segmentation, an autoencoder) or an anomalib export, with the model's own
 * preprocessing and the same adapters as the detector node; prints a table or one JSON object.
 */
import { basename } from "node:path";
import { performance } from "node:perf_hooks";
import { MAX_DETECTIONS, MAX_TOP_K } from "../lib/detector/options";
import { describePreprocess } from "../lib/detector/methods/supervised-method";
import { openAnomalibEvalModel } from "../offline/eval/anomalib-eval-model";
import { DEFAULT_MAX_PIXELS, MAX_TENSOR_SIDE, preprocessImage } from "../lib/image";
import type { PreprocessOptions, ScoreMap } from "../lib/image/types";
import type { SessionOptions } from "../lib/onnx";
import { readImageFile } from "../lib/source/read-file";
import { openSupervisedModel } from "../lib/supervised";
import { DEFAULT_SUPERVISED_OPTIONS, RECONSTRUCTION_SCORES, SUPERVISED_TASKS, type ReconstructionScore, type SupervisedOptions } from "../lib/supervised/types";
import { EXIT_OK, UsageError, parseIntegerOption, parseOptions, type CliIo } from "./args";

export const PREDICT_SUMMARY = "run a classification, YOLO, segmentation or anomalib model on one image";

const TASKS = ["auto", ...SUPERVISED_TASKS, "anomaly"] as const;
type PredictTask = (typeof TASKS)[number];
const MAX_THREADS = 64;
/** anomalib exports that take any size are fed this side unless --size says otherwise (as eval). */
const DEFAULT_ANOMALY_SIZE = 256;

export const PREDICT_USAGE = `Usage: defect-detection predict --model FILE --image IMG [options]

Runs one image through a model and prints what it found. The image is preprocessed the way
the model family expects (YOLO: letterbox padded with 114, RGB 0..1; classifiers and semantic
segmentation: stretch with ImageNet mean/std; autoencoders: stretch, RGB 0..1) at the model's
input size. Boxes are given in the original image's pixels, maps by their size (the model's
input size) and maximum. An autoencoder's map is the squared error between its output and its
input, averaged over channels; its score is the map's maximum or, with --score mean, its mean.
Times: preprocess (decode and tensor), model (run, decoding, NMS and mapping back),
post (the summary).

Options:
  --model FILE         ONNX model (required): a classifier [1,C], a YOLOv5/v8/11 or end-to-end
                       detector, YOLO-seg, a semantic segmentation net [1,C,H,W], with
                       --task reconstruction an autoencoder (output of the input's shape), or
                       with --task anomaly an anomalib export
  --image IMG          image file (required)
  --task NAME          ${TASKS.join(", ")} (default auto: from the outputs and metadata;
                       an output of the input's shape needs reconstruction or semantic)
  --confidence C       drop boxes scoring at or below C, 0 to 1 (default ${DEFAULT_SUPERVISED_OPTIONS.confidence})
  --iou I              NMS overlap threshold, 0 to 1 (default ${DEFAULT_SUPERVISED_OPTIONS.iou})
  --max-detections N   boxes kept after NMS, 1 to ${MAX_DETECTIONS} (default ${DEFAULT_SUPERVISED_OPTIONS.maxDetections})
  --top-k K            classes listed for a classifier, 1 to ${MAX_TOP_K} (default ${DEFAULT_SUPERVISED_OPTIONS.topK})
  --score RULE         reconstruction score: ${RECONSTRUCTION_SCORES.join(" or ")} of the error map (default ${DEFAULT_SUPERVISED_OPTIONS.reconstructionScore})
  --names FILE         class names: JSON array, JSON object {"0": "name"} or one name a line
                       (default: the model's metadata, else "class N")
  --size N             square input side for models that take any size (default: the
                       metadata imgsz, else 640 for YOLO, 224 otherwise; anomaly: ${DEFAULT_ANOMALY_SIZE})
  --threads N          onnxruntime intra-op threads (default: all cores)
  --json               print one JSON object instead of the table
  -h, --help           show this help
`;

const OPTIONS = {
  model: { type: "string" },
  image: { type: "string" },
  task: { type: "string" },
  confidence: { type: "string" },
  iou: { type: "string" },
  "max-detections": { type: "string" },
  "top-k": { type: "string" },
  names: { type: "string" },
  score: { type: "string" },
  size: { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Options that only mean something for supervised models. */
const SUPERVISED_ONLY = ["confidence", "iou", "max-detections", "top-k", "names", "score"] as const;

export interface PredictReport {
  model: { file: string; task: string; classes: number };
  image: { file: string; width: number; height: number };
  /** How the image was made into a tensor, in words. */
  preprocess: string;
  task: string;
  /** Top class probability, best box score, map maximum (reconstruction: or mean), or the anomalib normalised score. */
  score: number;
  classes: Array<{ name: string; score: number }>;
  /** Original image pixels. */
  boxes: Array<{ x1: number; y1: number; x2: number; y2: number; score: number; class: number; name: string }>;
  map: { width: number; height: number; max: number } | null;
  ms: { preprocess: number; model: number; post: number };
}

function parseTask(value: string | undefined): PredictTask {
  if (value === undefined) return "auto";
  const task = TASKS.find((t) => t === value);
  if (task === undefined) throw new UsageError(`--task must be one of ${TASKS.join(", ")}, got "${value}"`);
  return task;
}

function parseScoreRule(value: string | undefined): ReconstructionScore {
  if (value === undefined) return DEFAULT_SUPERVISED_OPTIONS.reconstructionScore;
  const rule = RECONSTRUCTION_SCORES.find((r) => r === value);
  if (rule === undefined) throw new UsageError(`--score must be one of ${RECONSTRUCTION_SCORES.join(", ")}, got "${value}"`);
  return rule;
}

function parseUnit(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = value.trim() === "" ? Number.NaN : Number(value);
  if (!(Number.isFinite(n) && n >= 0 && n <= 1)) throw new UsageError(`${option} must be a number from 0 to 1, got "${value}"`);
  return n;
}

function mapSummary(map: ScoreMap | null): PredictReport["map"] {
  if (map === null) return null;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of map.data) if (v > max) max = v;
  return { width: map.width, height: map.height, max };
}

interface Request {
  modelFile: string;
  imageFile: string;
  bytes: Buffer;
  size: number | undefined;
  session: SessionOptions;
}

async function predictSupervised(
  request: Request,
  options: SupervisedOptions,
  namesFile: string | undefined,
  warn: (line: string) => void,
): Promise<PredictReport> {
  const model = await openSupervisedModel(request.modelFile, {
    ...options,
    ...(namesFile === undefined ? {} : { namesFile }),
    ...(request.session.intraOpThreads === undefined ? {} : { intraOpThreads: request.session.intraOpThreads }),
  });
  for (const warning of model.warnings) warn(`warning: ${warning}`);
  try {
    const preprocess = sizedPreprocess(model.preprocess, model.inputShape, request.size);
    const t0 = performance.now();
    const { tensor, transform, info } = await preprocessImage(request.bytes, preprocess, { maxPixels: DEFAULT_MAX_PIXELS });
    const t1 = performance.now();
    const result = await model.predict(tensor, transform);
    const t2 = performance.now();
    const report: PredictReport = {
      model: { file: basename(request.modelFile), task: model.task, classes: model.names.length },
      image: { file: basename(request.imageFile), width: info.width, height: info.height },
      preprocess: describePreprocess(preprocess),
      task: result.task,
      score: result.score,
      classes: result.classes.map((c) => ({ name: c.name, score: c.score })),
      boxes: result.boxes.map((b) => ({ x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, score: b.score, class: b.class, name: b.name })),
      map: mapSummary(result.map),
      ms: { preprocess: t1 - t0, model: t2 - t1, post: 0 },
    };
    report.ms.post = performance.now() - t2;
    return report;
  } finally {
    await model.release();
  }
}

/**
 * --size applies where the graph takes any size; a graph with a fixed size takes only that,
 * so asking for another is a usage error rather than an inference failure.
 */
function sizedPreprocess(preprocess: PreprocessOptions, inputShape: readonly (number | null)[], size: number | undefined): PreprocessOptions {
  if (size === undefined) return preprocess;
  const nchw = preprocess.layout === "NCHW";
  const height = inputShape[nchw ? 2 : 1] ?? null;
  const width = inputShape[nchw ? 3 : 2] ?? null;
  if ((height !== null && height !== size) || (width !== null && width !== size)) {
    throw new UsageError(`--size ${size} does not fit the model, whose input is fixed at ${width ?? "any"}x${height ?? "any"}`);
  }
  return { ...preprocess, width: size, height: size };
}

async function predictAnomaly(request: Request, warn: (line: string) => void): Promise<PredictReport> {
  const exported = await openAnomalibEvalModel(request.modelFile, request.size ?? DEFAULT_ANOMALY_SIZE, request.session);
  for (const warning of exported.warnings) warn(`warning: ${warning}`);
  try {
    const t0 = performance.now();
    const preprocess = await exported.preprocessFor(request.bytes, { maxPixels: DEFAULT_MAX_PIXELS });
    const { tensor, info } = await preprocessImage(request.bytes, preprocess, { maxPixels: DEFAULT_MAX_PIXELS });
    const t1 = performance.now();
    const inspection = await exported.model.inspect(tensor);
    return {
      model: { file: basename(request.modelFile), task: "anomaly", classes: 0 },
      image: { file: basename(request.imageFile), width: info.width, height: info.height },
      preprocess: describePreprocess(preprocess),
      task: "anomaly",
      score: inspection.score,
      classes: [],
      boxes: [],
      // A classification export answers with a score only; its constant stand-in map says nothing.
      map: exported.hasMaps() ? mapSummary(inspection.map) : null,
      ms: { preprocess: t1 - t0, model: inspection.timings.backboneMs ?? 0, post: inspection.timings.postMs ?? 0 },
    };
  } finally {
    await exported.model.release();
  }
}

const SCORE_DIGITS = 3;
const PIXEL_DIGITS = 1;
const MS_DIGITS = 1;
const LABEL_WIDTH = 12;

function row(label: string, text: string): string {
  return `${label.padEnd(LABEL_WIDTH)}${text}`;
}

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map(
    (r) =>
      `  ${r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd()}`,
  );
}

export function formatPredict(report: PredictReport): string {
  const lines = [
    row("model", `${report.model.file} (${report.model.task}, ${report.model.classes} classes)`),
    row("image", `${report.image.file} ${report.image.width}x${report.image.height} -> ${report.preprocess}`),
    row("task", report.task),
    row("score", report.score.toFixed(SCORE_DIGITS)),
  ];
  if (report.classes.length > 0) {
    lines.push(row("classes", String(report.classes.length)));
    lines.push(...table([["name", "score"], ...report.classes.map((c) => [c.name, c.score.toFixed(SCORE_DIGITS)])]));
  }
  if (report.task === "detect" || report.task === "segment") {
    lines.push(row("boxes", String(report.boxes.length)));
    if (report.boxes.length > 0) {
      const px = (v: number): string => v.toFixed(PIXEL_DIGITS);
      lines.push(
        ...table([
          ["class", "score", "x1", "y1", "x2", "y2"],
          ...report.boxes.map((b) => [b.name, b.score.toFixed(SCORE_DIGITS), px(b.x1), px(b.y1), px(b.x2), px(b.y2)]),
        ]),
      );
    }
  }
  if (report.map !== null) lines.push(row("map", `${report.map.width}x${report.map.height}, max ${report.map.max.toFixed(SCORE_DIGITS)}`));
  const ms = report.ms;
  lines.push(row("ms", `preprocess ${ms.preprocess.toFixed(MS_DIGITS)} / model ${ms.model.toFixed(MS_DIGITS)} / post ${ms.post.toFixed(MS_DIGITS)}`));
  return `${lines.join("\n")}\n`;
}

export async function runPredict(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(PREDICT_USAGE);
    return EXIT_OK;
  }
  if (values.model === undefined) throw new UsageError("--model FILE is required");
  if (values.image === undefined) throw new UsageError("--image IMG is required");
  const task = parseTask(values.task);
  if (task === "anomaly") {
    const given = SUPERVISED_ONLY.find((option) => values[option] !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} applies to supervised models, not to --task anomaly`);
  }
  const defaults = DEFAULT_SUPERVISED_OPTIONS;
  const options: SupervisedOptions = {
    task: task === "anomaly" ? "auto" : task,
    confidence: parseUnit(values.confidence, "--confidence", defaults.confidence),
    iou: parseUnit(values.iou, "--iou", defaults.iou),
    maxDetections: parseIntegerOption(values["max-detections"], "--max-detections", 1, MAX_DETECTIONS) ?? defaults.maxDetections,
    topK: parseIntegerOption(values["top-k"], "--top-k", 1, MAX_TOP_K) ?? defaults.topK,
    reconstructionScore: parseScoreRule(values.score),
  };
  const size = parseIntegerOption(values.size, "--size", 1, MAX_TENSOR_SIDE);
  const threads = parseIntegerOption(values.threads, "--threads", 1, MAX_THREADS);
  const request: Request = {
    modelFile: values.model,
    imageFile: values.image,
    bytes: await readImageFile(values.image),
    size,
    session: threads === undefined ? {} : { intraOpThreads: threads },
  };
  // Warnings on stderr, so --json output stays one parseable line.
  const warn = (line: string): void => void io.stderr.write(`${line}\n`);
  const report = task === "anomaly" ? await predictAnomaly(request, warn) : await predictSupervised(request, options, values.names, warn);
  io.stdout.write(values.json === true ? `${JSON.stringify(report)}\n` : formatPredict(report));
  return EXIT_OK;
}
