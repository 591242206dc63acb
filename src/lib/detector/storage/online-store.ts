/**
 * A PatchCore bank file that also holds what was learned on the line: confirmed-good rows still
 * waiting for the background coreset refresh ("pending"), the defect bank ("defect"), the
 * confirmed defects with regions and the patch head fitted on them ("head*", a record of its own
 * version inside the online metadata), the good parts' appearance (appearance-store.ts), the
 * learned images kept for the calibration (kept-store.ts), the place weights (places-store.ts), the counters and the drift history. Same format and kind as a plain bank file (bank-store.ts), so
 * `bank info`, `bank merge` and older readers still see the bank; the extra sections are
 * optional and a file without them is a model with nothing learned on the line yet.
 */
import { BANK_FILE_KIND, memoryBankFrom } from "../../anomaly/patchcore/bank-store";
import type { PatchClassifier } from "../../anomaly/patchcore/patch-classifier";
import type { MemoryBank } from "../../anomaly/patchcore/patchcore";
import { DefectError } from "../../errors";
import { requireSection, writeModelFile, type ModelFile, type SectionArray, unusableModelFile } from "../../persist";
import { emptyDrift, readDriftRecord, type DriftRecord } from "../online/drift";
import type { Appearance } from "../../anomaly/patchcore/appearance";
import { readAppearanceRecord, writeAppearanceRecord } from "./appearance-store";
import type { KeptImage } from "../online/kept-calibration";
import { readKeptRecord, writeKeptRecord } from "./kept-store";
import { readPlacesRecord, writePlacesRecord } from "./places-store";
import { concatFloat32 } from "../../float32-concat";

export interface OnlineCounters {
  shotsLearned: number;
  defectsLearned: number;
  version: number;
  updated: string | null;
}

/** One confirmed defect with a region, as the patch head learns it: [rows, dim] each. */
export interface LabelledPart {
  /** Its defect-region patches. */
  positive: Float32Array;
  /** Every HEAD_NEGATIVE_STRIDE-th of its other patches (region-head.ts regionRows). */
  negative: Float32Array;
}

/** A fitted patch head and the labelled revision (parts ever labelled) it was fitted on. */
export interface FittedHead {
  classifier: PatchClassifier;
  revision: number;
}

/** Version of the head record in the online metadata; a reader refuses any other. */
export const HEAD_RECORD_VERSION = 1;

export interface OnlineSnapshot {
  bank: MemoryBank;
  /** Confirmed-good rows not in the bank yet, [pendingRows, dim]. */
  pending: Float32Array;
  /** [defectRows, dim]. */
  defect: Float32Array;
  counters: OnlineCounters;
  drift: DriftRecord;
  /** Confirmed defects with regions, oldest first (the oldest go first beyond the cap). */
  labelled: LabelledPart[];
  /** Parts ever labelled: a head fitted on fewer is stale and is fitted again. */
  labelledRevision: number;
  head: FittedHead | null;
  /** The good parts' appearance (fit and confirmed good parts); null when none was learned. */
  appearance: Appearance | null;
  /** The learned images the fit scored leave-one-out, kept to hand their scores over again (kept-calibration.ts). */
  kept: readonly KeptImage[];
  /** Place weights of the good bank's distances (place-weights.ts); null when none were fitted. */
  places: Float32Array | null;
}

export function freshCounters(): OnlineCounters {
  return { shotsLearned: 0, defectsLearned: 0, version: 1, updated: null };
}

/** A bank just fitted (with what else the fit learned, if anything): nothing learned on the line yet. */
export function freshSnapshot(
  bank: MemoryBank,
  learned: Pick<OnlineSnapshot, "appearance" | "kept" | "places"> = { appearance: null, kept: [], places: null },
): OnlineSnapshot {
  const { appearance, kept, places } = learned;
  const empty = new Float32Array(0);
  return {
    bank,
    pending: empty,
    defect: empty,
    counters: freshCounters(),
    drift: emptyDrift(),
    labelled: [],
    labelledRevision: 0,
    head: null,
    appearance,
    kept,
    places,
  };
}

/** `metadata`: the learned record (what the bank must match); the store adds its own keys. */
export async function saveOnlineBank(path: string, snapshot: OnlineSnapshot, metadata: Record<string, unknown>): Promise<void> {
  const { bank, pending, defect, counters, drift } = snapshot;
  const projectionDim = bank.projection === null ? 0 : bank.projection.length / bank.dim;
  const sections: Record<string, SectionArray> = { bank: bank.data.subarray(0, bank.size * bank.dim) };
  if (bank.projection !== null) sections["projection"] = bank.projection;
  if (pending.length > 0) sections["pending"] = pending;
  if (defect.length > 0) sections["defect"] = defect;
  const online: Record<string, unknown> = { ...counters, drift, pendingRows: pending.length / bank.dim, defectRows: defect.length / bank.dim };
  if (snapshot.labelled.length > 0 || snapshot.head !== null) {
    online["head"] = writeHeadRecord(snapshot, bank.dim, sections);
  }
  if (snapshot.appearance !== null) online["appearance"] = writeAppearanceRecord(snapshot.appearance, sections);
  if (snapshot.kept.length > 0) online["kept"] = writeKeptRecord(snapshot.kept, sections);
  if (snapshot.places !== null) online["places"] = writePlacesRecord(snapshot.places, sections);
  await writeModelFile(path, { metadata: { ...metadata, kind: BANK_FILE_KIND, bank: { size: bank.size, dim: bank.dim, projectionDim }, online }, sections });
}

function rows(file: ModelFile, path: string, name: string, count: unknown, dim: number): Float32Array {
  if (count === undefined || count === 0) return new Float32Array(0);
  if (!Number.isSafeInteger(count) || (count as number) < 0) {
    throw new DefectError("modelFileInvalid", `${path} is not a usable model file: bad ${name} row count ${JSON.stringify(count)}`, {
      path,
      reason: `bad ${name} row count`,
    });
  }
  return requireSection(file, path, name, "float32", (count as number) * dim);
}

/**
 * The head record (metadata, returned) and its sections (added to `sections`). A record without a
 * fitted head (a merge of several lines' files) is fitted when the detector opens it.
 */
export function writeHeadRecord(
  snapshot: Pick<OnlineSnapshot, "labelled" | "labelledRevision" | "head">,
  dim: number,
  sections: Record<string, SectionArray>,
): Record<string, unknown> {
  const { labelled, head } = snapshot;
  sections["headPositive"] = concatFloat32(labelled.map((p) => p.positive));
  sections["headNegative"] = concatFloat32(labelled.map((p) => p.negative));
  if (head !== null) {
    sections["headMean"] = head.classifier.mean;
    sections["headInvStd"] = head.classifier.invStd;
    sections["headWeights"] = head.classifier.weights;
  }
  return {
    version: HEAD_RECORD_VERSION,
    parts: labelled.map((p) => [p.positive.length / dim, p.negative.length / dim]),
    revision: snapshot.labelledRevision,
    // The bias is a float64 in JSON, exact; the rest are the float32 the head was fitted as.
    fitted: head === null ? null : { revision: head.revision, bias: head.classifier.bias },
  };
}

/** The labelled parts and the fitted head of a file; none in a file without a head record. */
function readHead(file: ModelFile, path: string, record: unknown, dim: number): Pick<OnlineSnapshot, "labelled" | "labelledRevision" | "head"> {
  if (record === undefined) return { labelled: [], labelledRevision: 0, head: null };
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the patch head record is not an object");
  const head = record as Record<string, unknown>;
  if (head["version"] !== HEAD_RECORD_VERSION) {
    throw unusableModelFile(path, `patch head record version ${JSON.stringify(head["version"])}; this version of the package reads ${HEAD_RECORD_VERSION}`);
  }
  const parts = head["parts"];
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(parts) || !parts.every((p) => Array.isArray(p) && p.length === 2 && isCount(p[0]) && isCount(p[1]))) {
    throw unusableModelFile(path, "bad patch head parts");
  }
  const sizes = parts as Array<[number, number]>;
  const positive = requireSection(file, path, "headPositive", "float32", sizes.reduce((n, p) => n + p[0], 0) * dim);
  const negative = requireSection(file, path, "headNegative", "float32", sizes.reduce((n, p) => n + p[1], 0) * dim);
  let atPositive = 0;
  let atNegative = 0;
  const labelled = sizes.map(([pos, neg]) => {
    const part = { positive: positive.subarray(atPositive, atPositive + pos * dim), negative: negative.subarray(atNegative, atNegative + neg * dim) };
    atPositive += pos * dim;
    atNegative += neg * dim;
    return part;
  });
  const revision = head["revision"];
  if (!isCount(revision)) throw unusableModelFile(path, "bad patch head revision");
  const fitted = head["fitted"];
  if (fitted === null || fitted === undefined) return { labelled, labelledRevision: revision, head: null };
  const f = fitted as Record<string, unknown>;
  if (!isCount(f["revision"]) || typeof f["bias"] !== "number" || !Number.isFinite(f["bias"])) throw unusableModelFile(path, "bad fitted patch head");
  const classifier: PatchClassifier = {
    dim,
    mean: requireSection(file, path, "headMean", "float32", dim),
    invStd: requireSection(file, path, "headInvStd", "float32", dim),
    weights: requireSection(file, path, "headWeights", "float32", dim),
    bias: f["bias"],
  };
  return { labelled, labelledRevision: revision, head: { classifier, revision: f["revision"] } };
}

function count(value: unknown, fallback: number): number {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fallback;
}

export function onlineBankFrom(file: ModelFile, path: string): OnlineSnapshot {
  const { bank } = memoryBankFrom(file, path);
  const online = file.metadata["online"];
  const meta = typeof online === "object" && online !== null ? (online as Record<string, unknown>) : {};
  const defaults = freshCounters();
  const updated = meta["updated"];
  return {
    bank,
    pending: rows(file, path, "pending", meta["pendingRows"], bank.dim),
    defect: rows(file, path, "defect", meta["defectRows"], bank.dim),
    counters: {
      shotsLearned: count(meta["shotsLearned"], defaults.shotsLearned),
      defectsLearned: count(meta["defectsLearned"], defaults.defectsLearned),
      version: count(meta["version"], defaults.version),
      updated: typeof updated === "string" ? updated : null,
    },
    drift: online === undefined ? emptyDrift() : readDriftRecord(meta["drift"]),
    ...readHead(file, path, meta["head"], bank.dim),
    appearance: readAppearanceRecord(file, path, meta["appearance"], bank.dim),
    kept: readKeptRecord(file, path, meta["kept"]),
    places: readPlacesRecord(file, path, meta["places"]),
  };
}
