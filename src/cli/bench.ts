/** `defect-detection bench`: PatchCore speed/accuracy sweep over settings on one dataset. */
import { parsePreprocessOptions } from "../lib/image";
import { benchPatchCore, type BenchReport, type BenchSetting } from "../offline/eval/patchcore-bench";
import { EXIT_OK, UsageError, parseIntegerOption, parseOptions, type CliIo } from "./args";

export const BENCH_SUMMARY = "PatchCore speed and accuracy of several settings on one dataset";

export const BENCH_USAGE = `Usage: defect-detection bench --data DIR --backbone FILE [options]

Extracts the patch features of DIR/train/good and DIR/test once, then fits and scores each
setting on them with the detector node's own bank fit and scoring, and prints accuracy and the
median time per image split into preprocess / backbone / scoring / post, next to a raw
onnxruntime session.run of the backbone. The score is the bank's (re-weighted PatchCore of the
features as captured, each patch in the neighbourhood an unedited detector learns with): the
detector's exposure evening, top-mean image score and appearance term need a whole learning
round, and \`line\` measures them.

Options:
  --data DIR          dataset folder in MVTec AD layout (required)
  --backbone FILE     ONNX backbone with intermediate layer outputs (required)
  --layers a,b        backbone outputs, finest first (default layer2,layer3)
  --size N            square input size (default 256)
  --train-limit N     first N sorted training images (default 200)
  --settings LIST     comma list of coreset:dims, dims 0 = exact search
                      (default 0.1:0,0.1:256,0.1:128,0.05:256,0.05:128,0.01:0)
  --threads N         onnxruntime intra-op threads (default: all cores)
  --json              print the report as JSON
  -h, --help          show this help
`;

const OPTIONS = {
  data: { type: "string" },
  backbone: { type: "string" },
  layers: { type: "string" },
  size: { type: "string" },
  "train-limit": { type: "string" },
  settings: { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const DEFAULT_SETTINGS = "0.1:0,0.1:256,0.1:128,0.05:256,0.05:128,0.01:0";

export function parseSettings(text: string): BenchSetting[] {
  return text.split(",").map((entry) => {
    const [ratioText, dimText] = entry.trim().split(":");
    const coresetRatio = Number(ratioText);
    const scoringDim = Number(dimText ?? "0");
    if (!(coresetRatio > 0 && coresetRatio <= 1) || !Number.isInteger(scoringDim) || scoringDim < 0) {
      throw new UsageError(`--settings entry "${entry}" must be coreset:dims, e.g. 0.1:128`);
    }
    return { label: `coreset ${coresetRatio}, ${scoringDim === 0 ? "exact" : `subspace ${scoringDim}`}`, coresetRatio, scoringDim };
  });
}

const f = (v: number | null): string => (v === null || Number.isNaN(v) ? "-" : v.toFixed(3));

export function formatBench(report: BenchReport): string {
  const head = [
    `dataset ${report.dataset}: ${report.train_images} train, ${report.test_images} test, threads ${report.threads}`,
    `raw onnxruntime session.run of the backbone: ${report.raw_backbone_ms.toFixed(1)} ms`,
    "",
    "| setting | bank | image AUROC | pixel AUROC | AUPRO | F1-max | ms/image (pre / backbone / scoring / post) | vs raw backbone | fit s |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const rows = report.rows.map((r) => {
    const m = r.ms;
    const split = `${m.total.toFixed(1)} (${m.preprocess.toFixed(1)} / ${m.backbone.toFixed(1)} / ${m.scoring.toFixed(1)} / ${m.post.toFixed(1)})`;
    return `| ${r.label} | ${r.bank_size} | ${f(r.image_auroc)} | ${f(r.pixel_auroc)} | ${f(r.aupro)} | ${f(r.f1_max)} | ${split} | ${(m.total / report.raw_backbone_ms).toFixed(2)}x | ${r.fit_seconds.toFixed(1)} |`;
  });
  return [...head, ...rows, "", `resident memory at the end: ${report.rss_mb} MB`, ""].join("\n");
}

export async function runBench(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(BENCH_USAGE);
    return EXIT_OK;
  }
  if (values.data === undefined) throw new UsageError("--data DIR is required");
  if (values.backbone === undefined) throw new UsageError("--backbone FILE is required");
  const size = parseIntegerOption(values.size, "--size", 32, 2048) ?? 256;
  const report = await benchPatchCore({
    data: values.data,
    backbone: values.backbone,
    layers: (values.layers ?? "layer2,layer3").split(",").map((l) => l.trim()),
    preprocess: parsePreprocessOptions({ preset: "imagenet", width: size, height: size, resize: "stretch" }),
    trainLimit: parseIntegerOption(values["train-limit"], "--train-limit", 1, 1_000_000) ?? 200,
    settings: parseSettings(values.settings ?? DEFAULT_SETTINGS),
    threads: parseIntegerOption(values.threads, "--threads", 1, 64),
    progress: (line) => io.stderr.write(`${line}\n`),
  });
  io.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatBench(report));
  return EXIT_OK;
}
