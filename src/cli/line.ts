/** `defect-detection line`: rehearse the six nodes on a dataset folder in an embedded Node-RED. */
import { defectTypeSummary } from "../offline/eval/by-defect-type";
import { runLine } from "../offline/line/run";
import { keepOnnxRuntimeOffline } from "../offline/line/runtime";
import type { LineReport } from "../offline/line/types";
import { EXIT_OK, UsageError, parseOptions, type CliIo } from "./args";
import { FEWSHOT_OPTIONS } from "./eval-fewshot";
import { DETECTOR_CLI_OPTIONS, SCORING_USAGE } from "./eval-options";
import { buildLinePlan } from "./line-plan";

export const LINE_SUMMARY = "run the six nodes in a local Node-RED over DIR: accuracy, latency, throughput";

export const LINE_USAGE = `Usage: defect-detection line --data DIR [options]

Runs the package's six nodes in an embedded Node-RED (127.0.0.1, a throw-away user
directory, nothing downloaded): image source -> preprocess -> detector -> threshold ->
mask to region -> alarm. The detector learns DIR/train/good (msg.learn); with --defect-shots N
the first N sorted DIR/train_defect images are then confirmed to it as defects (msg.confirm, with
their masks or boxes where the dataset has them); the threshold node
calibrates itself (false-reject rate, its default 1 %) from training images only, never test
images: unsupervised PatchCore hands over each learned image's score against its model without
that image (leave-one-out) with its fit, and the threshold calibrates from those; the other
methods and --shots send it training images held back from learning (what --train-limit or
--shots leave over, else the learned ones; with --shots the shots' own scores join them). Every
image of DIR/test/<type>/ is then inspected one at a time (latency: image source in to mask
to region out) and once more as a stream that keeps the queues full (throughput). Prints image
and pixel AUROC, the threshold's recall and false-reject rate, the regions' defect recall and
false regions per image (where DIR/ground_truth has masks), latency percentiles, images per
second, event-loop delay, peak resident memory and a plain onnxruntime run of the backbone.

Detector options mean what they mean for eval; one left out takes the detector node's default.
  --data DIR           dataset folder in MVTec AD layout (required)
  --method NAME        patchcore (default), padim, template (aligned parts: the detector
                       learns the references and DIR/train/good) or anomalib (an anomalib
                       ONNX export given by --model: nothing is learned)
  --model FILE         anomalib: the export (model.onnx; 0.x/1.x need metadata.json beside it)
  --reference-dir DIR  template: where the references are (default DIR/reference)
  --backbone FILE      ONNX backbone with intermediate layer outputs, or "embedded"
  --layers a,b         backbone outputs to use, finest first (default layer2,layer3;
                       padim: layer1,layer2,layer3)
  --size N             square input size in pixels (default 256; template: the parts' own size)
  --coreset R          memory-bank fraction of training patches
  --max-bank N         hard cap on memory-bank rows
  --train-limit N      learn only the first N sorted training images
  --scoring-dim N      patchcore: search the bank's top-N principal subspace (0 = exact)
  --image-score RULE   patchcore image score: reweighted, map-max or map-top-mean
${SCORING_USAGE}  --shots K            few-shot setting: learn the first K sorted good images (1 to 16)
  --augment MODE       support-set augmentation: auto (rounds of at most 8 images), on or off
  --rotations LIST     extra exact rotations learned with the augmentation, in degrees
  --standardize        with --shots: standardise each image's patch features
  --no-standardize     with --shots: the raw patch features
  --threads N          onnxruntime intra-op threads (default: all cores)

Line options:
  --defect-shots N     patchcore: after learning, confirm the first N sorted DIR/train_defect/<type>/
                       images to the detector as an operator would (msg.confirm "defect" with the
                       image and its mask from DIR/ground_truth_train, else its boxes from
                       DIR/annotations/train/<stem>.json): with a region they teach its patch head
  --calibrate N        padim, template, anomalib, --shots: training images sent to the threshold
                       to calibrate on (default 200, at least 2); not used with unsupervised
                       PatchCore, whose fit hands the threshold its scores
  --frr PERCENT        the threshold's false-reject rate (default: the node's, 1); a rate a
                       needs at least 1/a - 1 good scores
  --json               print one JSON object instead of the table
  -h, --help           show this help

Not available here (the detector node has no such field): --neighbors, --min-bank.
`;

const OPTIONS = {
  ...DETECTOR_CLI_OPTIONS,
  calibrate: { type: "string" },
  frr: { type: "string" },
  // eval's few-shot options, by the same names.
  ...FEWSHOT_OPTIONS,
} as const;

/** eval options the detector node cannot honour: refused rather than silently ignored. */
const NODE_LACKS: ReadonlyArray<[keyof typeof OPTIONS, string]> = [
  ["neighbors", "the detector node uses PatchCore's default neighbours for the image score"],
  ["min-bank", "the detector node keeps its own minimum bank in the few-shot setting"],
];

function num(value: number | null, digits = 3): string {
  return value === null || Number.isNaN(value) ? "-" : value.toFixed(digits);
}

export function formatLineReport(method: string, r: LineReport): string {
  const split = Object.entries(r.ms_split)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(" / ");
  return [
    `method                  ${method}`,
    `dataset                 ${r.dataset} (${r.train_images} learned, ${r.calibration_images} ${r.calibration} calibration, ${r.images} test)`,
    `Node-RED                ${r.node_red}, 127.0.0.1`,
    `image AUROC             ${num(r.image_auroc)}`,
    `pixel AUROC             ${num(r.pixel_auroc)}`,
    `threshold               ${r.threshold.toPrecision(4)} (at a false-reject rate of ${num(r.promised_frr)} promised, from ${r.calibration_images} good training images)`,
    `recall @ FRR 1 % / 5 %  ${num(r.recall_at_frr_1)} / ${num(r.recall_at_frr_5)} (best any threshold can do)`,
    `  by defect type        ${defectTypeSummary(r.by_defect_type)} (1 % / 5 %, count)`,
    `recall / FRR            ${num(r.calibrated_recall)} / ${num(r.calibrated_frr)} (NG among defective / good parts)`,
    `defect recall           ${num(r.defect_recall)}${r.ground_truth_defects === null ? "" : ` of ${r.ground_truth_defects} ground-truth defects`}`,
    `false regions / image   ${num(r.false_regions_per_image)}`,
    `ms / image              p50 ${r.ms_per_image_p50.toFixed(1)}, p99 ${r.ms_per_image_p99.toFixed(1)} (one in flight; ${split})`,
    `engine (as eval times)  ${r.engine_ms_per_image_p50 === null ? "-" : `${r.engine_ms_per_image_p50.toFixed(1)} ms p50 (preprocess + detector)`}`,
    `raw backbone            ${r.raw_backbone_ms === null ? "-" : `${r.raw_backbone_ms.toFixed(1)} ms`}`,
    `throughput              ${r.images_per_second.toFixed(1)} images/s (${r.stream_window} in flight, ${r.dropped} dropped)`,
    `event-loop delay        p99 ${num(r.event_loop_delay_p99_ms, 1)} ms, max ${num(r.event_loop_delay_max_ms, 1)} ms`,
    `  while learning        p99 ${num(r.learning_event_loop_delay_p99_ms, 1)} ms, max ${num(r.learning_event_loop_delay_max_ms, 1)} ms`,
    `memory                  ${r.rss_peak_mb.toFixed(0)} MB peak resident`,
    `fit                     ${r.fit_seconds.toFixed(1)} s, ${r.alarms} alarm events`,
    ...(r.defect_shots === 0 ? [] : [`confirmed defects       ${r.defect_shots} (regions: ${r.defect_regions ?? "-"}) in ${r.confirm_seconds.toFixed(1)} s`]),
    "",
  ].join("\n");
}

export async function runLineCommand(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(LINE_USAGE);
    return EXIT_OK;
  }
  if (values.data === undefined) throw new UsageError("--data DIR is required");
  for (const [option, why] of NODE_LACKS) if (values[option] !== undefined) throw new UsageError(`--${option} is not available in line: ${why}`);
  const fewShot = values.shots !== undefined;
  const standardizeFlag = values.standardize === true || values["no-standardize"] === true;
  if (standardizeFlag && !fewShot) throw new UsageError("--standardize and --no-standardize need --shots K (they are few-shot settings)");
  if (values.standardize === true && values["no-standardize"] === true) throw new UsageError("--standardize and --no-standardize contradict each other");
  const method = values.method ?? "patchcore";
  if (fewShot && method !== "patchcore") throw new UsageError(`--shots works with --method patchcore, got "${method}"`);
  if (fewShot && values["train-limit"] !== undefined) throw new UsageError("--shots K already picks the first K training images: drop --train-limit");
  // Before the anomalib plan opens the export: nothing the line runs may contact the outside.
  keepOnnxRuntimeOffline();
  const progress = values.json === true ? undefined : (line: string): void => void io.stderr.write(`${line}\n`);
  const plan = await buildLinePlan({ ...values, data: values.data }, { progress, log: (line) => io.stderr.write(`${line}\n`) });
  const report = await runLine(plan);
  const name = `${method}${fewShot ? ` (${plan.learn.length} shots)` : ""}`;
  if (values.json === true) {
    const { detector } = plan;
    const settings = {
      method,
      setting: detector["setting"] ?? null,
      backbone: detector["backbone"] ?? null,
      layers: detector["layers"] ?? null,
      size: plan.size,
    };
    const bank = report.model?.["bankSize"];
    io.stdout.write(`${JSON.stringify({ ...settings, ...report, bank_size: typeof bank === "number" ? bank : null })}\n`);
  } else {
    io.stdout.write(formatLineReport(name, report));
  }
  return EXIT_OK;
}
