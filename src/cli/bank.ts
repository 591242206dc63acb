/**
 * `defect-detection bank`: memory-bank files of the detector (.ddm) without the node.
 *   bank merge --out FILE A.ddm B.ddm [...]   one bank from several lines (coreset of the union)
 *   bank info FILE                             what a bank file holds and was learned with
 */
import { stat } from "node:fs/promises";
import { parseArgs } from "node:util";
import { loadMemoryBank } from "../lib/anomaly/patchcore/bank-store";
import { mergeBankFiles } from "../offline/patchcore/bank-merge";
import { DEFAULT_PATCHCORE_OPTIONS } from "../lib/anomaly/patchcore/patchcore";
import { describeNeighbourhood } from "../lib/features/neighbourhood";
import { recordedNeighbourhood } from "../lib/detector/storage/learned-record";
import { EXIT_OK, UsageError, parseIntegerOption, type CliIo } from "./args";

export const BANK_SUMMARY = "merge memory banks from several lines, or show what a bank file holds";
const MAX_BANK = 10_000_000;

export const BANK_USAGE = `Usage: defect-detection bank merge --out FILE A.ddm B.ddm [more.ddm ...] [--max-bank N]
       defect-detection bank info FILE

merge   one PatchCore bank from banks learned on several lines, without their images: the
        union of their rows reduced by greedy coreset to --max-bank rows (default
        ${DEFAULT_PATCHCORE_OPTIONS.maxBankSize}); defect rows are kept. The banks must share backbone (by content),
        layers, input size and preprocessing; otherwise nothing is written and the error
        names what differs. Copy the result to <userDir>/defect-detection/<node id>.ddm.
info    the bank's size, the backbone, layers and preprocessing it was learned with, and
        what was learned on the line.

Options:
  -o, --out FILE      merged bank to write (atomically)
      --max-bank N    rows of the merged bank at most, 1 to ${MAX_BANK}
  -h, --help          show this help
`;

const OPTIONS = {
  out: { type: "string", short: "o" },
  "max-bank": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function parse(args: string[]): { values: { out?: string; "max-bank"?: string; help?: boolean }; positionals: string[] } {
  try {
    return parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "bad arguments");
  }
}

export async function runBank(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args);
  const [sub, ...files] = positionals;
  if (values.help === true || sub === undefined) {
    io.stdout.write(BANK_USAGE);
    if (sub === undefined && values.help !== true) throw new UsageError('missing subcommand: "merge" or "info"');
    return EXIT_OK;
  }
  if (sub === "merge") return merge(files, values, io);
  if (sub === "info") return info(files, io);
  throw new UsageError(`unknown subcommand "${sub}": expected "merge" or "info"`);
}

async function merge(files: string[], values: { out?: string; "max-bank"?: string }, io: CliIo): Promise<number> {
  if (values.out === undefined || values.out.trim() === "") throw new UsageError("missing --out FILE, the merged bank to write");
  if (files.length < 2) throw new UsageError(`merge needs at least two bank files, got ${files.length}`);
  const maxBankSize = parseIntegerOption(values["max-bank"], "--max-bank", 1, MAX_BANK) ?? DEFAULT_PATCHCORE_OPTIONS.maxBankSize;
  const summary = await mergeBankFiles(files, values.out, { maxBankSize });
  const lines = summary.sources.map((s) => `  ${s.path}: ${s.rows} rows, ${s.defectRows} defect rows`);
  io.stdout.write(
    `Merged ${summary.sources.length} banks (${summary.unionRows} rows of ${summary.dim} values) into ${summary.bankSize} rows` +
      ` (cap ${maxBankSize}), ${summary.defectRows} defect rows: ${summary.out}\n${lines.join("\n")}\n`,
  );
  return EXIT_OK;
}

function field(value: unknown): string {
  if (typeof value === "string" || typeof value === "number") return String(value);
  return JSON.stringify(value) ?? "-";
}

/** Each layer's window, as recorded; files saved before the record were learned with 3 x 3. */
function neighbourhood(metadata: Record<string, unknown>): string {
  const layers = Array.isArray(metadata["layers"]) ? (metadata["layers"] as unknown[]).map(String) : [];
  const windows = recordedNeighbourhood(metadata);
  return windows.length === 0 ? "-" : windows.map((w, i) => `${layers[i] ?? `layer ${i + 1}`} ${describeNeighbourhood([w])}`).join(", ");
}

/** The learned images a fit keeps for the threshold's good scores (kept-store.ts), as info shows them. */
function keptImages(record: unknown): string {
  const images = typeof record === "object" && record !== null ? (record as Record<string, unknown>)["images"] : undefined;
  if (!Array.isArray(images) || images.length === 0) return "none";
  return `${images.length} learned images and their leave-one-out scores, scored again after a confirmed defect`;
}

/** Place weights (places-store.ts), as info shows them. */
function placeWeights(record: unknown): string {
  const count = typeof record === "object" && record !== null ? (record as Record<string, unknown>)["count"] : undefined;
  return typeof count === "number" ? `${count} places: distances count less where the learned good parts vary most` : "none";
}

/** The appearance model and its look-alikes (appearance-store.ts), as info shows them. */
function appearance(record: unknown): string {
  if (typeof record !== "object" || record === null) return "none";
  const { count, fitted, lookalikes } = record as Record<string, unknown>;
  const looks = typeof lookalikes === "object" && lookalikes !== null ? (lookalikes as Record<string, unknown>) : undefined;
  const calibrated = looks === undefined ? "no look-alikes" : `scores calibrated by ${field(looks["k"])} look-alikes (strength ${field(looks["strength"])})`;
  return `${field(count)} mean feature vectors (${field(fitted)} from the fit); ${calibrated}`;
}

async function info(files: string[], io: CliIo): Promise<number> {
  const [path, ...extra] = files;
  if (path === undefined || extra.length > 0) throw new UsageError("info takes exactly one bank file");
  const { bank, metadata } = await loadMemoryBank(path);
  const backbone = (metadata["backbone"] ?? {}) as Record<string, unknown>;
  const online = (metadata["online"] ?? {}) as Record<string, unknown>;
  const size = (await stat(path)).size;
  const rows: Array<[string, string]> = [
    ["file", `${path} (${size} bytes)`],
    ["bank", `${bank.size} rows x ${bank.dim} values${bank.projection === null ? "" : `, search projection ${bank.projection.length / bank.dim} dims`}`],
    ["method", `${field(metadata["method"])} (${field(metadata["setting"])})`],
    ["backbone", `${field(backbone["name"])} (${field(backbone["size"])} bytes, sha256 ${field(backbone["sha256"])})`],
    ["layers", Array.isArray(metadata["layers"]) ? metadata["layers"].join(",") : "-"],
    ["input", field(metadata["input"])],
    ["preprocessing", field(metadata["preprocessing"])],
    // Files saved before the option was recorded were learned without it.
    ["features", metadata["standardize"] === true ? "standardised per image" : "raw"],
    ["exposure", metadata["evenExposure"] === true ? "evened out per image" : "as captured"],
    ["neighbourhood", neighbourhood(metadata)],
    ["trained on", `${field(metadata["trainedOn"])} images, ${field(metadata["created"])}`],
    [
      "learned on the line",
      `${field(online["shotsLearned"] ?? 0)} good, ${field(online["defectsLearned"] ?? 0)} defects; version ${field(online["version"] ?? 1)}, last update ${field(online["updated"] ?? "-")}`,
    ],
    ["waiting rows", `${field(online["pendingRows"] ?? 0)} good rows for the next refresh, ${field(online["defectRows"] ?? 0)} defect rows`],
    ["kept images", keptImages(online["kept"])],
    ["place weights", placeWeights(online["places"])],
    ["appearance", appearance(online["appearance"])],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  io.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n");
  return EXIT_OK;
}
