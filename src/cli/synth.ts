/** `defect-detection synth`: writes the synthetic demo/test data set to a folder. */
import {
  ALIGNED_KINDS,
  DEFAULT_IMAGE_SIZE,
  DEFAULT_SEED,
  DEFAULT_TRAIN_COUNT,
  DEFECT_KINDS,
  MAX_IMAGE_SIZE,
  MAX_SEED,
  MAX_TRAIN_COUNT,
  MIN_IMAGE_SIZE,
  TEXTURE_KINDS,
  writeSyntheticDataset,
  type DatasetSummary,
} from "../offline/synth";
import { EXIT_OK, UsageError, parseIntegerOption, parseListOption, parseOptions, type CliIo } from "./args";

export const SYNTH_SUMMARY = "write synthetic parts with defects and masks (MVTec AD layout)";

export const SYNTH_USAGE = `Usage: defect-detection synth --out DIR [options]

Writes images of good and defective synthetic parts, with ground-truth masks, in the
MVTec AD folder layout: <DIR>/<kind>/train/good, test/good, test/<defect>, ground_truth/<defect>.
The same options always write the same files.

Options:
  -o, --out DIR        folder to write into (created if missing)
      --seed N         random seed, 0 to ${MAX_SEED} (default ${DEFAULT_SEED})
      --count N        train/good images per kind, 1 to ${MAX_TRAIN_COUNT} (default ${DEFAULT_TRAIN_COUNT});
                       each test folder gets a quarter of it, at least 2
      --size N         image width and height in pixels, ${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE} (default ${DEFAULT_IMAGE_SIZE})
      --kinds LIST     comma-separated part kinds (default all):
                       ${TEXTURE_KINDS.join(", ")}
      --defects LIST   comma-separated defect kinds (default all):
                       ${DEFECT_KINDS.join(", ")}
      --references N   also N reference images of each aligned kind (${ALIGNED_KINDS.join(", ")}) in
                       <DIR>/<kind>/reference, for template comparison (default 0)
  -h, --help           show this help
`;

const OPTIONS = {
  out: { type: "string", short: "o" },
  seed: { type: "string" },
  count: { type: "string" },
  size: { type: "string" },
  kinds: { type: "string" },
  defects: { type: "string" },
  references: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function runSynth(args: string[], io: CliIo): Promise<number> {
  const values = parseOptions(args, OPTIONS);
  if (values.help) {
    io.stdout.write(SYNTH_USAGE);
    return EXIT_OK;
  }
  if (values.out === undefined || values.out.trim() === "") {
    throw new UsageError("missing --out DIR, the folder to write the data set into");
  }
  const summary = await writeSyntheticDataset({
    out: values.out,
    seed: parseIntegerOption(values.seed, "--seed", 0, MAX_SEED),
    count: parseIntegerOption(values.count, "--count", 1, MAX_TRAIN_COUNT),
    size: parseIntegerOption(values.size, "--size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
    kinds: parseListOption(values.kinds, "--kinds", TEXTURE_KINDS),
    defects: parseListOption(values.defects, "--defects", DEFECT_KINDS),
    references: parseIntegerOption(values.references, "--references", 0, MAX_TRAIN_COUNT),
  });
  io.stdout.write(formatSummary(summary));
  return EXIT_OK;
}

export function formatSummary(summary: DatasetSummary): string {
  const lines = [`Wrote ${summary.images} images and ${summary.masks} masks ` + `(${summary.size}x${summary.size} px, seed ${summary.seed}) to ${summary.out}`];
  const width = Math.max(...summary.kinds.map((kind) => kind.kind.length));
  for (const kind of summary.kinds) {
    const count = (folder: string): number => kind.folders.find((entry) => entry.folder === folder)?.count ?? 0;
    const references = count("reference");
    lines.push(
      `  ${kind.kind.padEnd(width)}  ${count("train/good")} train/good, ${count("test/good")} test/good, ` +
        `${summary.testCount} each of ${summary.defects.join(", ")} with masks` +
        (references > 0 ? `, ${references} references` : ""),
    );
  }
  return lines.join("\n") + "\n";
}
