/** `defect-detection eval`: learn from DIR/train/good, score DIR/test, print the metrics. */
import { openPatchExtractor, type PatchExtractor } from "../lib/features/extractor";
import { DEFAULT_MAX_PIXELS, parsePreprocessOptions } from "../lib/image";
import { DEFAULT_PATCHCORE_OPTIONS, IMAGE_SCORE_RULES, type ImageScoreRule, type PatchCoreOptions } from "../lib/anomaly/patchcore/patchcore";
import { createPatchCoreTrainer } from "../lib/anomaly/patchcore/trainer";
import { evaluateTemplate } from "../lib/eval/template-eval";
import { evaluateAnomalyMethod, type AnomalyEvalReport } from "../lib/eval/anomaly-eval";
import { openAnomalibEvalModel } from "../lib/eval/anomalib-eval-model";
import { DEFAULT_PADIM_OPTIONS, gaussianCount } from "../lib/anomaly/padim/padim";
import { createPadimTrainer } from "../lib/anomaly/padim/trainer";
import type { AnomalyTrainer } from "../lib/anomaly/types";
import type { SessionOptions } from "../lib/onnx";
import { EXIT_OK, UsageError, parseIntegerOption, parseOptions, type CliIo } from "./args";
import { FEWSHOT_OPTIONS, FEWSHOT_USAGE, runFewShotEval, wantsFewShot } from "./eval-fewshot";

export const EVAL_SUMMARY = "train on DIR/train/good, score DIR/test and print the metrics";

export const EVAL_USAGE = `Usage: defect-detection eval --data DIR [options]

Learns "good" from DIR/train/good, scores every image in DIR/test/<type>/ (type "good" is
defect-free) and prints image AUROC, pixel AUROC and AUPRO (where DIR/ground_truth has masks),
F1-max and the time per image split into preprocess / backbone / scoring / post.

Options:
  --data DIR           dataset folder in MVTec AD layout (required)
  --method NAME        patchcore (default), padim, template (aligned parts: each
                       test/defect/<id> against reference/<id>, model fitted on the
                       train_defect/defect vs train/good pairs and annotations/train),
                       or anomalib (an anomalib ONNX export given by --model: nothing
                       is learned, DIR/test is scored with the export's own
                       preprocessing and normalisation)
  --model FILE         anomalib: the export (model.onnx; 0.x/1.x need metadata.json
                       beside it)
  --reference-dir DIR  template: where the references are (default DIR/reference)
  --backbone FILE      ONNX backbone with intermediate layer outputs
  --layers a,b         backbone outputs to use, finest first (default layer2,layer3;
                       padim: layer1,layer2,layer3)
  --size N             square input size in pixels (default 256; anomalib: used only
                       when the export accepts any size)
  --coreset R          memory-bank fraction of training patches (default 0.1)
  --max-bank N         hard cap on memory-bank rows (default 40000)
  --neighbors K        neighbours for the image-score re-weighting (default 9)
  --train-limit N      use only the first N sorted training images
  --scoring-dim N      patchcore: search the bank's top-N principal subspace (0 = exact)
  --image-score RULE   patchcore image score: reweighted (the PatchCore paper's re-weighted
                       largest patch score; default) or map-max (the largest value of the
                       anomaly map; default with --shots)
${FEWSHOT_USAGE}  --threads N          onnxruntime intra-op threads (default: all cores)
  --json               print one JSON object instead of the table
  -h, --help           show this help
`;

const OPTIONS = {
  data: { type: "string" },
  method: { type: "string" },
  backbone: { type: "string" },
  model: { type: "string" },
  layers: { type: "string" },
  size: { type: "string" },
  coreset: { type: "string" },
  "max-bank": { type: "string" },
  neighbors: { type: "string" },
  "train-limit": { type: "string" },
  "scoring-dim": { type: "string" },
  "image-score": { type: "string" },
  "reference-dir": { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...FEWSHOT_OPTIONS,
} as const;

const METHODS = ["patchcore", "padim", "template", "anomalib"] as const;

/** anomalib's PaDiM layers: the stride-4 grid of layer1 plus two coarser layers. */
const PADIM_DEFAULT_LAYERS = "layer1,layer2,layer3";

/** The few-shot preset scores images by the map's maximum; full PatchCore keeps the paper's rule. */
function parseImageScore(value: string | undefined, fewShotPreset: boolean): ImageScoreRule {
  if (value === undefined) return fewShotPreset ? "map-max" : DEFAULT_PATCHCORE_OPTIONS.imageScore;
  const rule = IMAGE_SCORE_RULES.find((r) => r === value);
  if (rule === undefined) throw new UsageError(`--image-score must be one of ${IMAGE_SCORE_RULES.join(", ")}, got "${value}"`);
  return rule;
}

function parseRatio(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new UsageError(`${option} must be a number in (0, 1], got "${value}"`);
  return n;
}

function formatNumber(value: number | null): string {
  return value === null || Number.isNaN(value) ? "-" : value.toFixed(3);
}

export function formatReport(method: string, report: AnomalyEvalReport): string {
  const s = report.ms_split;
  return [
    `method          ${method}`,
    `dataset         ${report.dataset} (${report.train_images} train, ${report.test_images} test)`,
    `image AUROC     ${formatNumber(report.image_auroc)}`,
    `pixel AUROC     ${formatNumber(report.pixel_auroc)}`,
    `AUPRO (0.3)     ${formatNumber(report.aupro)}`,
    `F1-max          ${formatNumber(report.f1_max)} at score ${report.f1_threshold.toPrecision(4)}`,
    `avg precision   ${formatNumber(report.average_precision)}`,
    `ms / image      ${report.ms_per_image.toFixed(1)} (pre ${s.preprocess.toFixed(1)} / backbone ${s.backbone.toFixed(1)} / scoring ${s.scoring.toFixed(1)} / post ${s.post.toFixed(1)})`,
    `fit             ${report.fit_seconds.toFixed(1)} s, bank ${report.bank_size ?? "-"}`,
    `memory          ${report.rss_mb} MB resident`,
    "",
  ].join("\n");
}

interface MethodSetup {
  trainer: AnomalyTrainer;
  /** Reported as bank_size: memory-bank rows (PatchCore) or Gaussians, one a grid position (PaDiM). */
  modelSize: () => number | null;
}

function patchcoreSetup(extractor: PatchExtractor, options: PatchCoreOptions, session: SessionOptions): MethodSetup {
  const trainer = createPatchCoreTrainer(extractor, options, session);
  return { trainer, modelSize: () => trainer.bank?.size ?? null };
}

function padimSetup(extractor: PatchExtractor, session: SessionOptions): MethodSetup {
  const trainer = createPadimTrainer(extractor, { ...DEFAULT_PADIM_OPTIONS }, session);
  return { trainer, modelSize: () => (trainer.statistics === undefined ? null : gaussianCount(trainer.statistics)) };
}

/**
 * Template comparison (aligned parts): the normal-difference model and operating threshold are
 * fitted on DIR's training pairs, then each test image is compared with its reference.
 */
async function runTemplateEval(data: string, referenceDir: string | undefined, json: boolean, io: CliIo): Promise<number> {
  const result = await evaluateTemplate({ data, referenceDir, progress: json ? undefined : (line) => io.stderr.write(`${line}\n`) });
  if (json) {
    const { model: _model, ...report } = result;
    io.stdout.write(`${JSON.stringify({ method: "template", ...report })}\n`);
    return EXIT_OK;
  }
  const s = result.ms_split;
  io.stdout.write(
    [
      "method                  template",
      `dataset                 ${result.dataset} (${result.train_pairs} training pairs, ${result.test_pairs} test pairs, ${result.boxes} defects)`,
      `defect recall           ${result.defect_recall.toFixed(3)}`,
      `false regions / image   ${result.false_regions_per_image.toFixed(3)}`,
      `pixel AUROC             ${result.pixel_auroc.toFixed(3)} (map blurred sigma 4: ${result.pixel_auroc_sigma4.toFixed(3)})`,
      `AUPRO (0.3)             ${result.aupro.toFixed(3)} (map blurred sigma 4: ${result.aupro_sigma4.toFixed(3)})`,
      `ms / image              ${result.ms_per_image.toFixed(1)} (align ${s.align.toFixed(1)} / compare ${s.compare.toFixed(1)} / post ${s.post.toFixed(1)})`,
      `fit                     ${result.fit_seconds.toFixed(1)} s, threshold ${result.threshold}`,
      "",
    ].join("\n"),
  );
  return EXIT_OK;
}

function printReport(method: string, report: AnomalyEvalReport, json: boolean, io: CliIo): void {
  io.stdout.write(json ? `${JSON.stringify({ method, ...report })}\n` : formatReport(method, report));
}

async function runAnomalibEval(data: string, modelFile: string, size: number, trainLimit: number | undefined, session: SessionOptions, json: boolean, io: CliIo): Promise<number> {
  const exported = await openAnomalibEvalModel(modelFile, size, session);
  for (const warning of exported.warnings) io.stderr.write(`warning: ${warning}\n`);
  try {
    const report = await evaluateAnomalyMethod({
      data,
      trainLimit,
      preprocess: exported.preprocess,
      subject: { model: exported.model },
      preprocessFor: (bytes) => exported.preprocessFor(bytes, { maxPixels: DEFAULT_MAX_PIXELS }),
      pixelMetrics: exported.hasMaps,
      progress: json ? undefined : (line) => io.stderr.write(`${line}\n`),
    });
    printReport("anomalib", report, json, io);
    return EXIT_OK;
  } finally {
    await exported.model.release();
  }
}

export async function runEval(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(EVAL_USAGE);
    return EXIT_OK;
  }
  if (values.data === undefined) throw new UsageError("--data DIR is required");
  const method = values.method ?? "patchcore";
  if (!(METHODS as readonly string[]).includes(method)) throw new UsageError(`--method must be one of ${METHODS.join(", ")}, got "${method}"`);
  const fewShot = wantsFewShot(values);
  if (fewShot && method !== "patchcore") throw new UsageError(`--shots and --defect-shots work with --method patchcore, got "${method}"`);
  if (fewShot && values["train-limit"] !== undefined) throw new UsageError("--shots K already picks the first K training images: drop --train-limit");
  if (method === "template") return runTemplateEval(values.data, values["reference-dir"], values.json === true, io);
  const size = parseIntegerOption(values.size, "--size", 32, 2048) ?? 256;
  const threads = parseIntegerOption(values.threads, "--threads", 1, 64);
  const session = threads === undefined ? {} : { intraOpThreads: threads };
  const trainLimit = parseIntegerOption(values["train-limit"], "--train-limit", 1, 1_000_000);
  if (method === "anomalib") {
    if (values.model === undefined) throw new UsageError("--model FILE is required for anomalib");
    return runAnomalibEval(values.data, values.model, size, trainLimit, session, values.json === true, io);
  }
  if (values.backbone === undefined) throw new UsageError(`--backbone FILE is required for ${method}`);
  const layers = (values.layers ?? (method === "padim" ? PADIM_DEFAULT_LAYERS : "layer2,layer3")).split(",").map((l) => l.trim()).filter((l) => l !== "");
  const options = {
    ...DEFAULT_PATCHCORE_OPTIONS,
    coresetRatio: parseRatio(values.coreset, "--coreset", DEFAULT_PATCHCORE_OPTIONS.coresetRatio),
    maxBankSize: parseIntegerOption(values["max-bank"], "--max-bank", 1, 10_000_000) ?? DEFAULT_PATCHCORE_OPTIONS.maxBankSize,
    numNeighbors: parseIntegerOption(values.neighbors, "--neighbors", 1, 100) ?? DEFAULT_PATCHCORE_OPTIONS.numNeighbors,
    scoringDim: parseIntegerOption(values["scoring-dim"], "--scoring-dim", 0, 100_000) ?? DEFAULT_PATCHCORE_OPTIONS.scoringDim,
    imageScore: parseImageScore(values["image-score"], fewShot && values["defect-shots"] === undefined),
  };
  const preprocess = parsePreprocessOptions({ preset: "imagenet", width: size, height: size, resize: "stretch" });
  const extractor = await openPatchExtractor({ model: values.backbone, layers }, session);
  if (fewShot) {
    try {
      return await runFewShotEval({ ...values, data: values.data, backbone: values.backbone }, extractor, preprocess, options, session, io);
    } finally {
      await extractor.release();
    }
  }
  const { trainer, modelSize } = method === "padim" ? padimSetup(extractor, session) : patchcoreSetup(extractor, options, session);
  try {
    const report = await evaluateAnomalyMethod({
      data: values.data,
      trainLimit,
      preprocess,
      subject: { trainer },
      modelSize,
      progress: values.json ? undefined : (line) => io.stderr.write(`${line}\n`),
    });
    printReport(method, report, values.json === true, io);
    return EXIT_OK;
  } finally {
    await trainer.release();
    await extractor.release();
  }
}
