/**
 * `defect-detection eval --shots K [--augment ...] [--defect-shots N]`: the few-shot modes of
 * eval. `--shots` runs the detector node's few-shot setting through its own engine
 * (offline/eval/fewshot-eval.ts); `--defect-shots` compares good-only with defect-aware PatchCore on
 * its own library path (offline/eval/defect-aware-eval.ts): the node learns defects only from parts
 * confirmed on the line, with no labelled-defect folder to learn from.
 */
import { openPatchExtractor } from "../lib/features/extractor";
import { evaluateFewShot, type FewShotEvalReport } from "../offline/eval/fewshot-eval";
import { evaluateDefectAware, type DefectAwareReport } from "../offline/eval/defect-aware-eval";
import type { OperatingPoint } from "../offline/eval/defect-aware-test";
import { EXIT_OK, UsageError, parseIntegerOption, type CliIo } from "./args";
import { parseEvalDetector, type DetectorFlags } from "./eval-options";

export const FEWSHOT_USAGE = `  --shots K            few-shot setting of the detector node: learn from the first K
                       (1 to 16) sorted good images and their augmented variants (flips,
                       small turns and shifts, brightness); reports F1 at a threshold
                       calibrated on the shots (leave-one-out, mean + 3 sd)
  --augment MODE       auto (default: the setting's), on or off
  --rotations LIST     extra exact rotations learned, in degrees (round parts:
                       45,90,135,180,225,270,315)
  --standardize        standardise each image's patch features (per channel, over the image)
                       before the bank and the search: parts that differ as a whole
                       (lighting, grain) look alike, local defects still stand out
                       (default with --shots and an ONNX backbone)
  --no-standardize     with --shots: the raw patch features (default with the embedded
                       backbone, which was trained to ignore lighting and contrast)
  --defect-shots N     also learn N labelled defects from DIR/train_defect and compare
                       good-only with defect-aware PatchCore at calibrated thresholds
                       (raw features, re-weighted image score)
`;

export const FEWSHOT_OPTIONS = {
  shots: { type: "string" },
  augment: { type: "string" },
  rotations: { type: "string" },
  // Read only to be refused (eval, line): the detector node keeps no minimum bank.
  "min-bank": { type: "string" },
  "defect-shots": { type: "string" },
  standardize: { type: "boolean" },
  "no-standardize": { type: "boolean" },
} as const;

export interface FewShotFlags {
  shots?: string;
  augment?: string;
  rotations?: string;
  standardize?: boolean;
  "no-standardize"?: boolean;
  "image-score"?: string;
  "min-bank"?: string;
  "defect-shots"?: string;
}

export function wantsFewShot(values: FewShotFlags): boolean {
  const standardizeFlag = values.standardize === true || values["no-standardize"] === true;
  if (standardizeFlag && values.shots === undefined) throw new UsageError("--standardize and --no-standardize need --shots K (they are few-shot settings)");
  if (values.standardize === true && values["no-standardize"] === true) throw new UsageError("--standardize and --no-standardize contradict each other");
  if (values["defect-shots"] !== undefined && (standardizeFlag || values["image-score"] !== undefined)) {
    throw new UsageError("--defect-shots compares raw features with the re-weighted image score: drop --standardize, --no-standardize and --image-score");
  }
  return values.shots !== undefined || values["defect-shots"] !== undefined;
}

function num(value: number | null): string {
  return value === null || Number.isNaN(value) ? "-" : value.toFixed(3);
}

function formatFewShot(r: FewShotEvalReport): string {
  return [
    `method          patchcore, ${r.shots} shots${r.augmented ? ` + augmentation (${r.learned_images} images learned)` : ""}`,
    `features        ${r.standardized ? "standardised per image" : "raw"}, image score ${r.image_score}`,
    `dataset         ${r.dataset} (${r.test_images} test)`,
    `image AUROC     ${num(r.image_auroc)}`,
    `pixel AUROC     ${num(r.pixel_auroc)}`,
    `AUPRO (0.3)     ${num(r.aupro)}`,
    `F1 calibrated   ${num(r.f1_calibrated)} at score ${r.threshold === null ? "- (needs 2 shots)" : r.threshold.toPrecision(4)}`,
    `F1-max          ${num(r.f1_max)} at score ${r.f1_threshold.toPrecision(4)}`,
    `ms / image      ${r.ms_per_image.toFixed(1)}`,
    `fit             ${r.fit_seconds.toFixed(1)} s, bank ${r.bank_size ?? "-"}`,
    "",
  ].join("\n");
}

function formatPoint(name: string, p: OperatingPoint): string {
  return `${name.padEnd(20)}${num(p.image_auroc)}  ${num(p.f1_calibrated)}  ${num(p.f1_max)}  (${p.calibration})`;
}

function formatDefectAware(r: DefectAwareReport): string {
  return [
    `dataset             ${r.dataset} (${r.shots} good shots, ${r.defect_shots} labelled defects, ${r.test_images} test)`,
    `                    AUROC  F1 cal F1-max`,
    formatPoint("good only", r.good_only),
    formatPoint("good + labels", r.good_only_labelled),
    formatPoint("defect-aware", r.defect_aware),
    "",
  ].join("\n");
}

export async function runFewShotEval(values: FewShotFlags & DetectorFlags & { data: string; backbone: string; json?: boolean }, io: CliIo): Promise<number> {
  const progress = values.json === true ? undefined : (line: string) => io.stderr.write(`${line}\n`);
  const shots = parseIntegerOption(values.shots, "--shots", 1, 1_000_000);
  const defectShots = parseIntegerOption(values["defect-shots"], "--defect-shots", 1, 1_000_000);
  if (defectShots !== undefined) {
    if (shots === undefined) throw new UsageError("--defect-shots needs --shots K (the good images of the bank)");
    return runDefectAwareEval(values, shots, defectShots, io);
  }
  const detector = parseEvalDetector(values, "patchcore", shots);
  const report = await evaluateFewShot({ data: values.data, detector, baseDir: process.cwd(), progress });
  io.stdout.write(values.json === true ? `${JSON.stringify({ method: "patchcore", ...report })}\n` : formatFewShot(report));
  return EXIT_OK;
}

/** Good-only against defect-aware PatchCore, at the unsupervised setting's coreset and search (raw features, re-weighted score). */
async function runDefectAwareEval(
  values: DetectorFlags & { data: string; backbone: string; json?: boolean },
  shots: number,
  defectShots: number,
  io: CliIo,
): Promise<number> {
  const progress = values.json === true ? undefined : (line: string) => io.stderr.write(`${line}\n`);
  const { patchcore, threads, layers, folderPreprocess } = parseEvalDetector(values, "patchcore", undefined);
  const session = threads === undefined ? {} : { intraOpThreads: threads };
  const extractor = await openPatchExtractor({ model: values.backbone, layers }, session);
  try {
    const report = await evaluateDefectAware({ data: values.data, extractor, preprocess: folderPreprocess, shots, defectShots, patchcore, session, progress });
    io.stdout.write(values.json === true ? `${JSON.stringify({ method: "patchcore-defect-aware", ...report })}\n` : formatDefectAware(report));
    return EXIT_OK;
  } finally {
    await extractor.release();
  }
}
