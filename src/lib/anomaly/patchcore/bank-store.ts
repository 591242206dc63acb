/**
 * A PatchCore memory bank in the package's model file format: the bank rows and the optional
 * search projection as raw float32 sections, with the caller's metadata (what the bank was
 * learned with) beside the bank's own shape.
 */
import { DefectError } from "../../errors";
import { readModelFile, requireSection, writeModelFile, type ModelFile, type SectionArray } from "../../persist";
import type { MemoryBank } from "./patchcore";

/** Tells a bank file from other model files of the same format. */
export const BANK_FILE_KIND = "patchcore-bank";

export interface SavedBank {
  bank: MemoryBank;
  /** Everything the header holds, including `kind` and `bank`. */
  metadata: Record<string, unknown>;
}

interface BankShape {
  size: number;
  dim: number;
  /** Columns of the search projection; 0 when there is none. */
  projectionDim: number;
}

/** `metadata` must be plain JSON; its `kind` and `bank` keys are the store's own. */
export async function saveMemoryBank(path: string, bank: MemoryBank, metadata: Record<string, unknown>): Promise<void> {
  const projectionDim = bank.projection === null ? 0 : bank.projection.length / bank.dim;
  const shape: BankShape = { size: bank.size, dim: bank.dim, projectionDim };
  const sections: Record<string, SectionArray> = { bank: bank.data.subarray(0, bank.size * bank.dim) };
  if (bank.projection !== null) sections["projection"] = bank.projection;
  await writeModelFile(path, { metadata: { ...metadata, kind: BANK_FILE_KIND, bank: shape }, sections });
}

function readShape(path: string, value: unknown): BankShape {
  const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const { size, dim, projectionDim } = record;
  const positive = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
  if (!positive(size) || !positive(dim) || !(projectionDim === 0 || positive(projectionDim))) {
    throw new DefectError("modelFileInvalid", `${path} is not a usable model file: bad bank shape ${JSON.stringify(value)}`, {
      path,
      reason: "bad bank shape",
    });
  }
  return { size, dim, projectionDim };
}

export async function loadMemoryBank(path: string): Promise<SavedBank> {
  return memoryBankFrom(await readModelFile(path), path);
}

/** The bank in a model file already read (for callers that check its metadata first). */
export function memoryBankFrom(file: ModelFile, path: string): SavedBank {
  const kind = file.metadata["kind"];
  if (kind !== BANK_FILE_KIND) {
    throw new DefectError("modelFileInvalid", `${path} is not a usable model file: it holds "${String(kind)}", not a PatchCore bank`, {
      path,
      reason: `kind ${String(kind)}`,
    });
  }
  const shape = readShape(path, file.metadata["bank"]);
  const data = requireSection(file, path, "bank", "float32", shape.size * shape.dim);
  const projection = shape.projectionDim === 0 ? null : requireSection(file, path, "projection", "float32", shape.dim * shape.projectionDim);
  return { bank: { data, size: shape.size, dim: shape.dim, projection }, metadata: file.metadata };
}
