/**
 * A template detector's references in the package's model file format: the gray bytes of every
 * reference in one section (the format stores 32-bit sections, so four pixels a value, padded
 * to a whole value), their size, count and names in the metadata beside the learned record.
 * The bytes live in shared memory, which the worker reads without a copy.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { requireSection, writeModelFile, type ModelFile, unusableModelFile } from "../../persist";

/** Tells a reference file from other model files of the same format. */
export const TEMPLATE_FILE_KIND = "template-references";
/** Copying a few hundred MB at once would itself stall the event loop: copy in slices of this many bytes. */
const COPY_SLICE_BYTES = 16 * 1024 * 1024;
const BYTES_PER_VALUE = 4;

export interface StoredReferences {
  width: number;
  height: number;
  count: number;
  names: string[];
  /** count x width x height gray bytes, padded to a multiple of 4 bytes. */
  pixels: SharedArrayBuffer;
}

/** Shared memory for `bytes` gray bytes, padded so the file can store it as 32-bit values. */
export function sharedPixels(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.ceil(bytes / BYTES_PER_VALUE) * BYTES_PER_VALUE);
}

/** Copies `source` into `target` at `offset`, yielding to the event loop between slices. */
export async function copyInSlices(target: Uint8Array, source: Uint8Array, offset = 0): Promise<void> {
  for (let at = 0; at < source.length; at += COPY_SLICE_BYTES) {
    target.set(source.subarray(at, Math.min(source.length, at + COPY_SLICE_BYTES)), offset + at);
    if (at + COPY_SLICE_BYTES < source.length) await nextTurn();
  }
}

/** `sources` one after another into `target`, yielding to the event loop about every slice. */
export async function concatenateInSlices(target: Uint8Array, sources: readonly Uint8Array[]): Promise<void> {
  let offset = 0;
  let sinceYield = 0;
  for (const source of sources) {
    await copyInSlices(target, source, offset);
    offset += source.length;
    sinceYield += source.length;
    if (sinceYield >= COPY_SLICE_BYTES) {
      sinceYield = 0;
      await nextTurn();
    }
  }
}

export async function saveTemplateReferences(path: string, stored: StoredReferences, metadata: Record<string, unknown>): Promise<void> {
  const { width, height, count, names, pixels } = stored;
  await writeModelFile(path, {
    metadata: { ...metadata, kind: TEMPLATE_FILE_KIND, template: { width, height, count, names } },
    sections: { references: new Int32Array(pixels) },
  });
}

/** The references in a model file already read (copied into shared memory). */
export async function templateReferencesFrom(file: ModelFile, path: string): Promise<StoredReferences> {
  const kind = file.metadata["kind"];
  if (kind !== TEMPLATE_FILE_KIND) throw unusableModelFile(path, `it holds "${String(kind)}", not template references`);
  const shape = file.metadata["template"];
  const r = typeof shape === "object" && shape !== null ? (shape as Record<string, unknown>) : {};
  const positive = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
  const { width, height, count, names } = r;
  const namesOk = Array.isArray(names) && names.length === count && names.every((n) => typeof n === "string");
  if (!positive(width) || !positive(height) || !positive(count) || !namesOk) {
    throw unusableModelFile(path, `bad template reference shape ${JSON.stringify({ width, height, count })}`);
  }
  const bytes = width * height * count;
  const pixels = sharedPixels(bytes);
  const section = requireSection(file, path, "references", "int32", pixels.byteLength / BYTES_PER_VALUE);
  await copyInSlices(new Uint8Array(pixels), new Uint8Array(section.buffer, section.byteOffset, section.byteLength));
  return { width, height, count, names: names as string[], pixels };
}
