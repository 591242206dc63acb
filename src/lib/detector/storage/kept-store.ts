/**
 * The learned images a model keeps for its calibration (kept-calibration.ts) inside its bank
 * file: each image's codes as a section of its own ("kept0", "kept1", ...: the bytes of its one-
 * or two-byte codes as int32 words, written straight from the codes' memory: concatenating 40 MB
 * held Node-RED's thread for 100-200 ms at every save), the levels of one-byte images in
 * "keptLevels", the patch distances in "keptGrids", and a record of its own version in the
 * online metadata with each image's shape, code kind and leave-one-out score (a float64 in JSON:
 * exact). A file without the record (saved before images were kept, a merge)
 * hands nothing over after a defect.
 */
import type { TensorLayout } from "../../image/types";
import { requireSection, type ModelFile, type SectionArray, unusableModelFile } from "../../persist";
import { codeWords, codesInRange, wordBytes, type CompactTensor, type KeptImage } from "../online/kept-calibration";
import { concatFloat32 } from "../../float32-concat";

/** Version of the kept-images record; a reader refuses any other. */
export const KEPT_RECORD_VERSION = 1;

interface ImageEntry {
  dims: number[];
  layout: TensorLayout;
  score: number;
  /** "levels": the levels each channel holds; "range": offset and step. */
  levels?: number[];
  offset?: number;
  step?: number;
}

const sectionOf = (image: number): string => `kept${image}`;

/** The record (metadata, returned) and its sections (added to `sections`). */
export function writeKeptRecord(kept: readonly KeptImage[], sections: Record<string, SectionArray>): Record<string, unknown> {
  const levels: Float32Array[] = [];
  const images: ImageEntry[] = kept.map(({ tensor, score }, i) => {
    sections[sectionOf(i)] = codeWords(tensor);
    const entry = { dims: tensor.dims, layout: tensor.layout, score };
    if (tensor.kind === "range") return { ...entry, offset: tensor.offset, step: tensor.step };
    levels.push(...tensor.levels);
    return { ...entry, levels: tensor.levels.map((l) => l.length) };
  });
  sections["keptLevels"] = concatFloat32(levels);
  sections["keptGrids"] = concatFloat32(kept.map((k) => k.grid));
  return { version: KEPT_RECORD_VERSION, gridLength: kept[0]?.grid.length ?? 0, images };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function readEntry(value: unknown): ImageEntry | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const e = value as Record<string, unknown>;
  const { dims, layout, score, levels, offset, step } = e;
  if (!Array.isArray(dims) || dims.length !== 4 || !dims.every((d) => isCount(d) && d > 0)) return undefined;
  if ((layout !== "NCHW" && layout !== "NHWC") || !isFiniteNumber(score)) return undefined;
  const base = { dims: dims as number[], layout, score } as const;
  if (Array.isArray(levels) && levels.every((n) => isCount(n) && n <= 256)) return { ...base, levels: levels as number[] };
  if (isFiniteNumber(offset) && isFiniteNumber(step) && step > 0) return { ...base, offset, step };
  return undefined;
}

export function readKeptRecord(file: ModelFile, path: string, record: unknown): KeptImage[] {
  if (record === undefined) return [];
  if (typeof record !== "object" || record === null) throw unusableModelFile(path, "the kept images record is not an object");
  const r = record as Record<string, unknown>;
  if (r["version"] !== KEPT_RECORD_VERSION) {
    throw unusableModelFile(path, `kept images record version ${JSON.stringify(r["version"])}; this version of the package reads ${KEPT_RECORD_VERSION}`);
  }
  const gridLength = r["gridLength"];
  const listed = r["images"];
  if (!isCount(gridLength) || !Array.isArray(listed)) throw unusableModelFile(path, "bad kept images record");
  const entries = listed.map(readEntry);
  if (entries.some((e) => e === undefined)) throw unusableModelFile(path, "bad kept image entry");
  const images = entries as ImageEntry[];
  const values = (e: ImageEntry): number => (e.dims as [number, number, number, number]).reduce((n, d) => n * d, 1);
  const levels = requireSection(
    file,
    path,
    "keptLevels",
    "float32",
    images.reduce((n, e) => n + (e.levels ?? []).reduce((s, l) => s + l, 0), 0),
  );
  const grids = requireSection(file, path, "keptGrids", "float32", images.length * gridLength);
  let atLevel = 0;
  return images.map((e, i) => {
    const count = values(e);
    const bytes = count * (e.levels === undefined ? 2 : 1);
    const words = requireSection(file, path, sectionOf(i), "int32", wordBytes(bytes) / 4);
    let tensor: CompactTensor;
    if (e.levels === undefined) {
      tensor = {
        kind: "range",
        offset: e.offset as number,
        step: e.step as number,
        codes: new Uint16Array(words.buffer, words.byteOffset, count),
        dims: e.dims,
        layout: e.layout,
      };
    } else {
      const channelLevels = e.levels.map((n) => {
        const l = levels.subarray(atLevel, atLevel + n);
        atLevel += n;
        return l;
      });
      tensor = { kind: "levels", levels: channelLevels, codes: new Uint8Array(words.buffer, words.byteOffset, count), dims: e.dims, layout: e.layout };
      if (!codesInRange(tensor)) throw unusableModelFile(path, "a kept image's codes name levels it does not have");
    }
    return { tensor, score: e.score, grid: grids.subarray(i * gridLength, (i + 1) * gridLength) };
  });
}
