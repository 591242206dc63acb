/**
 * Merging memory banks learned on several lines into one, without the images: the union of
 * their rows (bank and confirmed rows still waiting for a refresh) reduced by greedy coreset to
 * the cap, their defect rows and their confirmed defects with regions kept side by side (the
 * patch head is fitted on all of them when a detector opens the merged file). Banks are comparable only when they come from
 * the same backbone file (by content), the same layers and the same preprocessing; anything else
 * is refused with an error naming what differs between which files.
 */
import { basename } from "node:path";
import { DefectError } from "../../lib/errors";
import { readModelFile, requireSection, writeModelFile, type ModelFile, type SectionArray } from "../../lib/persist";
import type { SessionOptions } from "../../lib/onnx";
import { BANK_FILE_KIND, memoryBankFrom } from "../../lib/anomaly/patchcore/bank-store";
import { buildMemoryBank, DEFAULT_PATCHCORE_OPTIONS, type MemoryBank } from "../../lib/anomaly/patchcore/patchcore";
import { onlineBankFrom, writeHeadRecord } from "../../lib/detector/storage/online-store";
import { concatFloat32 } from "../../lib/float32-concat";
import { describeNeighbourhood, type PatchWindow } from "../../lib/features/neighbourhood";
import { recordedNeighbourhood } from "../../lib/detector/storage/learned-record";

export interface MergeOptions {
  /** Rows of the merged bank at most. */
  maxBankSize: number;
  seed?: number;
  session?: SessionOptions;
}

export interface MergeSummary {
  out: string;
  sources: Array<{ path: string; rows: number; defectRows: number }>;
  /** Rows in the union before the coreset. */
  unionRows: number;
  bankSize: number;
  defectRows: number;
  dim: number;
}

function layerCount(metadata: Record<string, unknown>): number {
  return Array.isArray(metadata["layers"]) ? metadata["layers"].length : 0;
}

/** Header fields that must be equal, with how they are shown in the error; `read` when the field needs the rest of the header. */
const IDENTITY_FIELDS: ReadonlyArray<{ key: string; label: string; show: (value: unknown) => string; read?: (metadata: Record<string, unknown>) => unknown }> =
  [
    { key: "setting", label: "setting", show: String },
    { key: "method", label: "method", show: String },
    {
      key: "backbone",
      label: "backbone",
      show: (b) => {
        const r = typeof b === "object" && b !== null ? (b as Record<string, unknown>) : {};
        return `${String(r["name"])} (${String(r["size"])} bytes, sha256 ${String(r["sha256"]).slice(0, 12)})`;
      },
    },
    { key: "layers", label: "layers", show: (l) => (Array.isArray(l) ? l.join(",") : String(l)) },
    { key: "input", label: "input tensor", show: (i) => JSON.stringify(i) },
    { key: "preprocessing", label: "preprocessing", show: (p) => JSON.stringify(p) },
    { key: "standardize", label: "standardize", show: (s) => (s === true ? "on" : "off") },
    { key: "evenExposure", label: "exposure", show: (s) => (s === true ? "even" : "as-captured") },
    { key: "neighbourhood", label: "neighbourhood", read: recordedNeighbourhood, show: (n) => describeNeighbourhood(n as readonly PatchWindow[]) },
  ];

/** What identity compares: the backbone by content, so a renamed copy still matches. */
function comparable(key: string, value: unknown): string {
  // Files saved before standardisation or exposure were recorded were learned without them.
  if (key === "standardize" || key === "evenExposure") return String(value === true);
  if (key !== "backbone" || typeof value !== "object" || value === null) return JSON.stringify(value) ?? "undefined";
  const { size, sha256 } = value as Record<string, unknown>;
  return JSON.stringify({ size, sha256 });
}

interface Source {
  path: string;
  file: ModelFile;
  bank: MemoryBank;
  online: Record<string, unknown>;
}

function onlineOf(file: ModelFile): Record<string, unknown> {
  const online = file.metadata["online"];
  return typeof online === "object" && online !== null ? (online as Record<string, unknown>) : {};
}

function extraRows(source: Source, name: "pending" | "defect"): Float32Array {
  const count = source.online[`${name}Rows`];
  if (!Number.isSafeInteger(count) || (count as number) <= 0) return new Float32Array(0);
  return requireSection(source.file, source.path, name, "float32", (count as number) * source.bank.dim);
}

/** Throws modelMismatch naming every field in which a bank differs from the first. */
export function checkMergeable(sources: ReadonlyArray<{ path: string; metadata: Record<string, unknown>; dim: number }>): void {
  const [first, ...rest] = sources;
  if (first === undefined) return;
  const differences: string[] = [];
  const fields = new Set<string>();
  for (const other of rest) {
    for (const { key, label, show, read } of IDENTITY_FIELDS) {
      const [mine, theirs] = [first.metadata, other.metadata].map((m) => (read === undefined ? m[key] : read(m)));
      if (comparable(key, mine) === comparable(key, theirs)) continue;
      // One window a layer: with other layers the layers' difference says it already.
      if (key === "neighbourhood" && layerCount(first.metadata) !== layerCount(other.metadata)) continue;
      fields.add(label);
      differences.push(`${label}: ${basename(first.path)} has ${show(mine)}, ${basename(other.path)} has ${show(theirs)}`);
    }
    if (other.dim !== first.dim) {
      fields.add("feature size");
      differences.push(`feature size: ${basename(first.path)} has ${first.dim}, ${basename(other.path)} has ${other.dim}`);
    }
  }
  if (differences.length === 0) return;
  throw new DefectError(
    "modelMismatch",
    `Cannot merge banks learned differently (${differences.join("; ")}): merge only banks of the same backbone, layers and preprocessing`,
    {
      fields: [...fields].join(", "),
      differences: differences.join("; "),
    },
  );
}

function sum(sources: readonly Source[], read: (s: Source) => unknown): number {
  return sources.reduce((total, s) => total + (Number.isSafeInteger(read(s)) ? (read(s) as number) : 0), 0);
}

/** Merges the bank files at `paths` into `out` (written atomically). */
export async function mergeBankFiles(paths: readonly string[], out: string, options: MergeOptions): Promise<MergeSummary> {
  if (paths.length < 2)
    throw new DefectError("invalidOption", `merging needs at least two bank files, got ${paths.length}`, { option: "files", value: paths.length });
  if (!(Number.isSafeInteger(options.maxBankSize) && options.maxBankSize >= 1)) {
    throw new DefectError("invalidOption", `Option maxBank must be a positive integer, got "${options.maxBankSize}"`, {
      option: "maxBank",
      value: String(options.maxBankSize),
    });
  }
  const sources: Source[] = [];
  for (const path of paths) {
    const file = await readModelFile(path);
    sources.push({ path, file, bank: memoryBankFrom(file, path).bank, online: onlineOf(file) });
  }
  checkMergeable(sources.map((s) => ({ path: s.path, metadata: s.file.metadata, dim: s.bank.dim })));
  const first = sources[0] as Source;
  const dim = first.bank.dim;
  const union = concatFloat32(sources.flatMap((s) => [s.bank.data.subarray(0, s.bank.size * dim), extraRows(s, "pending")]));
  const unionRows = union.length / dim;
  const scoringDim = first.bank.projection === null ? 0 : first.bank.projection.length / dim;
  const bank = await buildMemoryBank(
    union,
    unionRows,
    dim,
    { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 1, maxBankSize: options.maxBankSize, scoringDim, seed: options.seed ?? DEFAULT_PATCHCORE_OPTIONS.seed },
    options.session,
  );
  const defect = concatFloat32(sources.map((s) => extraRows(s, "defect")));
  const sections: Record<string, SectionArray> = { bank: bank.data };
  if (bank.projection !== null) sections["projection"] = bank.projection;
  if (defect.length > 0) sections["defect"] = defect;
  // Each line's head was fitted on its own bank: the merged file keeps what they learned from, not the heads.
  const labelled = sources.flatMap((s) => onlineBankFrom(s.file, s.path).labelled);
  const head = labelled.length === 0 ? undefined : writeHeadRecord({ labelled, labelledRevision: labelled.length, head: null }, dim, sections);
  const metadata = {
    ...first.file.metadata,
    created: new Date().toISOString(),
    trainedOn: sum(sources, (s) => s.file.metadata["trainedOn"]),
    // How one line's fit was augmented or calibrated (detector/fit/support-set.ts, leave-one-out.ts) says nothing of the merge: left out.
    augmentation: undefined,
    leaveOneOut: undefined,
    kind: BANK_FILE_KIND,
    bank: { size: bank.size, dim, projectionDim: scoringDim },
    online: {
      shotsLearned: sum(sources, (s) => s.online["shotsLearned"]),
      defectsLearned: sum(sources, (s) => s.online["defectsLearned"]),
      version: 1,
      updated: new Date().toISOString(),
      drift: { baseline: null, recent: [] },
      pendingRows: 0,
      defectRows: defect.length / dim,
      ...(head === undefined ? {} : { head }),
    },
    merged: sources.map((s) => ({ file: basename(s.path), rows: s.bank.size })),
  };
  await writeModelFile(out, { metadata, sections });
  return {
    out,
    sources: sources.map((s) => ({ path: s.path, rows: s.bank.size + extraRows(s, "pending").length / dim, defectRows: extraRows(s, "defect").length / dim })),
    unionRows,
    bankSize: bank.size,
    defectRows: defect.length / dim,
    dim,
  };
}
