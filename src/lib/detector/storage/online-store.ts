/**
 * A PatchCore bank file that also holds what was learned on the line: confirmed-good rows still
 * waiting for the background coreset refresh ("pending"), the defect bank ("defect"), the
 * counters and the drift history. Same format and kind as a plain bank file (bank-store.ts), so
 * `bank info`, `bank merge` and older readers still see the bank; the extra sections are
 * optional and a file without them is a model with nothing learned on the line yet.
 */
import { BANK_FILE_KIND, memoryBankFrom } from "../../anomaly/patchcore/bank-store";
import type { MemoryBank } from "../../anomaly/patchcore/patchcore";
import { DefectError } from "../../errors";
import { requireSection, writeModelFile, type ModelFile, type SectionArray } from "../../persist";
import { emptyDrift, readDriftRecord, type DriftRecord } from "../online/drift";

export interface OnlineCounters {
  shotsLearned: number;
  defectsLearned: number;
  version: number;
  updated: string | null;
}

export interface OnlineSnapshot {
  bank: MemoryBank;
  /** Confirmed-good rows not in the bank yet, [pendingRows, dim]. */
  pending: Float32Array;
  /** [defectRows, dim]. */
  defect: Float32Array;
  counters: OnlineCounters;
  drift: DriftRecord;
}

export function freshCounters(): OnlineCounters {
  return { shotsLearned: 0, defectsLearned: 0, version: 1, updated: null };
}

/** `metadata`: the learned record (what the bank must match); the store adds its own keys. */
export async function saveOnlineBank(path: string, snapshot: OnlineSnapshot, metadata: Record<string, unknown>): Promise<void> {
  const { bank, pending, defect, counters, drift } = snapshot;
  const projectionDim = bank.projection === null ? 0 : bank.projection.length / bank.dim;
  const sections: Record<string, SectionArray> = { bank: bank.data.subarray(0, bank.size * bank.dim) };
  if (bank.projection !== null) sections["projection"] = bank.projection;
  if (pending.length > 0) sections["pending"] = pending;
  if (defect.length > 0) sections["defect"] = defect;
  const online = { ...counters, drift, pendingRows: pending.length / bank.dim, defectRows: defect.length / bank.dim };
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
  };
}
