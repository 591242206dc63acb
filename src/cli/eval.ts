/**
 * `defect-detection eval`: learn from DIR/train/good, score DIR/test, print the metrics. PatchCore
 * and PaDiM run as the detector node runs them (its option parser, method and engine:
 * offline/eval/detector-subject.ts), so every figure is one of the code the node runs.
 */
import { defectTypeSummary } from "../offline/eval/by-defect-type";
import { DEFAULT_MAX_PIXELS } from "../lib/image";
import { evaluateTemplate } from "../offline/eval/template-eval";
import { evaluateAnomalyMethod, type AnomalyEvalReport } from "../offline/eval/anomaly-eval";
import { openAnomalibEvalModel } from "../offline/eval/anomalib-eval-model";
import { evalSubjectOf, openDetectorSubject } from "../offline/eval/detector-subject";
import { describeError } from "../lib/errors";
import type { SessionOptions } from "../lib/onnx";
import { EXIT_OK, UsageError, parseIntegerOption, parseOptions, type CliIo } from "./args";
import { FEWSHOT_OPTIONS, FEWSHOT_USAGE, runFewShotEval, wantsFewShot } from "./eval-fewshot";
import { DETECTOR_CLI_OPTIONS, parseEvalDetector, SCORING_USAGE, type DetectorFlags } from "./eval-options";
import { parseFrr } from "./line-plan";

export const EVAL_SUMMARY = "train on DIR/train/good, score DIR/test and print the metrics";

export const EVAL_USAGE = `Usage: defect-detection eval --data DIR [options]

Learns "good" from DIR/train/good, scores every image in DIR/test/<type>/ (type "good" is
defect-free) and prints image AUROC, pixel AUROC and AUPRO (where DIR/ground_truth has masks),
F1-max, the time per image split into preprocess / backbone / scoring / post, and memory.
PatchCore and PaDiM learn and inspect through the detector node's own code: an option left
out takes the detector node's default (the setting's measured best).

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
  --backbone FILE      ONNX backbone with intermediate layer outputs, or "embedded"
  --layers a,b         backbone outputs to use, finest first (default layer2,layer3;
                       padim: layer1,layer2,layer3)
  --size N             square input size in pixels (default 256; anomalib: used only
                       when the export accepts any size)
  --coreset R          memory-bank fraction of training patches (default: the setting's)
  --max-bank N         hard cap on memory-bank rows
  --train-limit N      use only the first N sorted training images
  --scoring-dim N      patchcore: search the bank's top-N principal subspace (0 = exact;
                       default: the setting's)
  --image-score RULE   patchcore image score: auto (the setting's: the mean of the anomaly
                       map's largest 1 %, re-weighted with --backbone embedded, or with
                       --shots the map's maximum), reweighted, map-max or map-top-mean
${SCORING_USAGE}${FEWSHOT_USAGE}  --frr PERCENT        the threshold node's false-reject rate for calibrated_recall and
                       calibrated_frr (default: the node's, 1): its good-only calibration
                       from the scores the detector hands over with its fit (PatchCore)
  --threads N          onnxruntime intra-op threads (default: all cores)
  --json               print one JSON object instead of the table
  -h, --help           show this help

Not available (the detector node has no such field): --neighbors, --min-bank.
`;

const OPTIONS = {
  ...DETECTOR_CLI_OPTIONS,
  ...FEWSHOT_OPTIONS,
  frr: { type: "string" },
} as const;

const METHODS = ["patchcore", "padim", "template", "anomalib"] as const;

/** Options the detector node cannot honour: refused rather than silently ignored (as `line` does). */
const NODE_LACKS: ReadonlyArray<["neighbors" | "min-bank", string]> = [
  ["neighbors", "the detector node uses PatchCore's default neighbours for the image score"],
  ["min-bank", "the detector node keeps no minimum bank in the few-shot setting"],
];

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
    `recall @ FRR    ${formatNumber(report.recall_at_frr_1)} at 1 %, ${formatNumber(report.recall_at_frr_5)} at 5 % (best any threshold can do)`,
    `by type @ FRR   ${defectTypeSummary(report.by_defect_type)} (1 % / 5 %, count)`,
    report.calibration_error === null
      ? `calibrated      recall ${formatNumber(report.calibrated_recall)}, FRR ${formatNumber(report.calibrated_frr)} (promised ${formatNumber(report.promised_frr)}, from ${report.calibration_images} ${report.calibration} scores of training images)`
      : `calibrated      - (${report.calibration_error})`,
    `ms / image      ${report.ms_per_image.toFixed(1)} (pre ${s.preprocess.toFixed(1)} / backbone ${s.backbone.toFixed(1)} / scoring ${s.scoring.toFixed(1)} / post ${s.post.toFixed(1)})`,
    `fit             ${report.fit_seconds.toFixed(1)} s, bank ${report.bank_size ?? "-"}`,
    `memory          ${report.rss_mb} MB resident, ${report.rss_peak_mb} MB at most`,
    "",
  ].join("\n");
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

async function runAnomalibEval(
  data: string,
  modelFile: string,
  size: number,
  trainLimit: number | undefined,
  session: SessionOptions,
  json: boolean,
  io: CliIo,
): Promise<number> {
  const exported = await openAnomalibEvalModel(modelFile, size, session);
  for (const warning of exported.warnings) io.stderr.write(`warning: ${warning}\n`);
  try {
    const report = await evaluateAnomalyMethod({
      data,
      trainLimit,
      preprocess: exported.preprocess,
      subject: { inspect: (tensor) => exported.model.inspect(tensor) },
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

/** PatchCore or PaDiM through the detector's engine, with the options an unedited node would take for the flags left out. */
async function runDetectorEval(
  values: DetectorFlags & { data: string; json?: boolean },
  method: "patchcore" | "padim",
  trainLimit: number | undefined,
  frr: number | undefined,
  io: CliIo,
): Promise<number> {
  const options = parseEvalDetector(values, method, undefined);
  const progress = values.json === true ? undefined : (line: string): void => void io.stderr.write(`${line}\n`);
  const subject = await openDetectorSubject(options, process.cwd());
  try {
    const skip = (error: unknown, file: string): void => void io.stderr.write(`warning: skipped ${file}: ${describeError(error)}\n`);
    const report = await evaluateAnomalyMethod({
      data: values.data,
      trainLimit,
      preprocess: options.folderPreprocess,
      subject: evalSubjectOf(subject, skip),
      progress,
      ...(frr === undefined ? {} : { frr }),
    });
    printReport(method, report, values.json === true, io);
    return EXIT_OK;
  } finally {
    await subject.release();
  }
}

export async function runEval(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(EVAL_USAGE);
    return EXIT_OK;
  }
  if (values.data === undefined) throw new UsageError("--data DIR is required");
  for (const [option, why] of NODE_LACKS) if (values[option] !== undefined) throw new UsageError(`--${option} is not available: ${why}`);
  const method = values.method ?? "patchcore";
  if (!(METHODS as readonly string[]).includes(method)) throw new UsageError(`--method must be one of ${METHODS.join(", ")}, got "${method}"`);
  const fewShot = wantsFewShot(values);
  if (fewShot && method !== "patchcore") throw new UsageError(`--shots and --defect-shots work with --method patchcore, got "${method}"`);
  if (fewShot && values["train-limit"] !== undefined) throw new UsageError("--shots K already picks the first K training images: drop --train-limit");
  if (method === "template") return runTemplateEval(values.data, values["reference-dir"], values.json === true, io);
  const trainLimit = parseIntegerOption(values["train-limit"], "--train-limit", 1, 1_000_000);
  const frr = parseFrr(values.frr);
  if (method === "anomalib") {
    if (values.model === undefined) throw new UsageError("--model FILE is required for anomalib");
    const size = parseIntegerOption(values.size, "--size", 32, 2048) ?? 256;
    const threads = parseIntegerOption(values.threads, "--threads", 1, 64);
    const session = threads === undefined ? {} : { intraOpThreads: threads };
    return runAnomalibEval(values.data, values.model, size, trainLimit, session, values.json === true, io);
  }
  if (values.backbone === undefined) throw new UsageError(`--backbone FILE is required for ${method}`);
  const given = { ...values, data: values.data, backbone: values.backbone };
  if (fewShot) return runFewShotEval(given, io);
  return runDetectorEval(given, method === "padim" ? "padim" : "patchcore", trainLimit, frr, io);
}
