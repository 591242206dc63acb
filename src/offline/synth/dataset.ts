/**
 * Writes a synthetic data set in the MVTec AD folder layout, which anomaly-detection training
 * tools (anomalib and others) read directly:
 *   <out>/<kind>/train/good/000.png
 *   <out>/<kind>/test/good/000.png
 *   <out>/<kind>/test/<defect>/000.png
 *   <out>/<kind>/ground_truth/<defect>/000_mask.png
 *   <out>/<kind>/reference/000.png   (aligned kinds, when references are asked for)
 * Every image's seed is derived from the data-set seed and the image's place, so the same
 * options write byte-identical files.
 */
import { mkdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import sharp from "sharp";
import { DefectError, describeError } from "../../lib/errors";
import type { RawImage } from "../../lib/image/types";
import { DEFECT_KINDS, assertDefectKind, generateDefect, type DefectKind } from "./defects";
import { deriveSeed } from "../../lib/random";
import { DEFAULT_IMAGE_SIZE, TEXTURE_KINDS, assertImageSize, assertSeed, assertTextureKind, generateGood, type TextureKind } from "./textures";

export const DEFAULT_SEED = 1;
export const DEFAULT_TRAIN_COUNT = 20;
export const MAX_TRAIN_COUNT = 1000;
/**
 * Kinds that are aligned parts: one fixed design that every part repeats, lying within a pixel
 * or two of the same place (print.ts). Only these get reference images: template comparison
 * (the detector's template method) needs a part that looks like its reference pixel for pixel.
 */
export const ALIGNED_KINDS: readonly TextureKind[] = ["printed-pattern"];
/** Test folders get a quarter of the training count, but never fewer than this. */
const MIN_TEST_COUNT = 2;
const TEST_SHARE = 0.25;
const MIN_STEM_DIGITS = 3;
/**
 * Noisy textures barely compress: level 3 is about as small as sharp's default 6 and twice as
 * fast. Pinned so the bytes never change with a default.
 */
const PNG_COMPRESSION_LEVEL = 3;
/** Encodes run on libuv threads while the next image is generated; a few in flight is enough. */
const WRITES_IN_FLIGHT = 4;

export interface SyntheticDatasetOptions {
  /** Output folder; created if missing. Existing files of the same names are overwritten. */
  out: string;
  seed?: number;
  /** Number of train/good images per kind. */
  count?: number;
  /** Width and height in pixels. */
  size?: number;
  kinds?: readonly TextureKind[];
  defects?: readonly DefectKind[];
  /**
   * Good images of each aligned kind written to <kind>/reference/ as references for template
   * comparison (other captures of the same design than train/ and test/); default 0, none.
   */
  references?: number;
}

export interface DatasetFolder {
  /** Path relative to the kind's folder, with forward slashes, e.g. "test/scratch". */
  folder: string;
  /** Absolute path. */
  path: string;
  count: number;
  files: string[];
}

export interface KindSummary {
  kind: TextureKind;
  /** Absolute path of the kind's folder. */
  path: string;
  folders: DatasetFolder[];
}

export interface DatasetSummary {
  /** Absolute output folder. */
  out: string;
  seed: number;
  size: number;
  /** Train images per kind. */
  count: number;
  /** Images per test folder (good and each defect). */
  testCount: number;
  defects: DefectKind[];
  kinds: KindSummary[];
  /** Image files written (masks not included). */
  images: number;
  masks: number;
}

export function testCountFor(trainCount: number): number {
  return Math.max(MIN_TEST_COUNT, Math.round(trainCount * TEST_SHARE));
}

export async function writeSyntheticDataset(options: SyntheticDatasetOptions): Promise<DatasetSummary> {
  const settings = resolveOptions(options);
  const { out, seed, size, count, kinds, defects, references } = settings;
  const testCount = testCountFor(count);
  const digits = Math.max(MIN_STEM_DIGITS, String(Math.max(count, testCount) - 1).length);
  const stem = (index: number): string => String(index).padStart(digits, "0");
  const writer = new PngWriter();
  const summaries: KindSummary[] = [];
  let images = 0;
  let masks = 0;

  for (const kind of kinds) {
    const kindPath = join(out, kind);
    const folders: DatasetFolder[] = [];
    const folder = async (relative: string): Promise<DatasetFolder> => {
      const entry: DatasetFolder = { folder: relative, path: join(kindPath, ...relative.split("/")), count: 0, files: [] };
      await makeFolder(entry.path);
      folders.push(entry);
      return entry;
    };
    const add = async (entry: DatasetFolder, name: string, image: RawImage): Promise<void> => {
      const file = join(entry.path, name);
      entry.files.push(file);
      entry.count++;
      await writer.write(file, image);
    };

    for (const split of ["train/good", "test/good"] as const) {
      const entry = await folder(split);
      const total = split === "train/good" ? count : testCount;
      for (let i = 0; i < total; i++) {
        await add(entry, `${stem(i)}.png`, generateGood(kind, deriveSeed(seed, kind, split, i), size));
        images++;
      }
    }
    if (references > 0 && ALIGNED_KINDS.includes(kind)) {
      const entry = await folder("reference");
      for (let i = 0; i < references; i++) {
        await add(entry, `${stem(i)}.png`, generateGood(kind, deriveSeed(seed, kind, "reference", i), size));
        images++;
      }
    }
    for (const defect of defects) {
      const test = await folder(`test/${defect}`);
      const truth = await folder(`ground_truth/${defect}`);
      for (let i = 0; i < testCount; i++) {
        const sample = generateDefect(kind, defect, deriveSeed(seed, kind, `test/${defect}`, i), size);
        await add(test, `${stem(i)}.png`, sample.image);
        await add(truth, `${stem(i)}_mask.png`, sample.mask);
        images++;
        masks++;
      }
    }
    summaries.push({ kind, path: kindPath, folders });
  }
  await writer.flush();
  return { out, seed, size, count, testCount, defects: [...defects], kinds: summaries, images, masks };
}

interface ResolvedOptions {
  out: string;
  seed: number;
  size: number;
  count: number;
  references: number;
  kinds: TextureKind[];
  defects: DefectKind[];
}

function resolveOptions(options: SyntheticDatasetOptions): ResolvedOptions {
  if (typeof options.out !== "string" || options.out.trim() === "") {
    throw new DefectError("invalidOption", "The output folder (out) must be a non-empty path.", { option: "out" });
  }
  const seed = options.seed ?? DEFAULT_SEED;
  assertSeed(seed);
  const size = options.size ?? DEFAULT_IMAGE_SIZE;
  assertImageSize(size);
  const count = options.count ?? DEFAULT_TRAIN_COUNT;
  if (!Number.isInteger(count) || count < 1 || count > MAX_TRAIN_COUNT) {
    throw new DefectError("invalidOption", `The train image count must be a whole number from 1 to ${MAX_TRAIN_COUNT}, got ${String(count)}.`, {
      option: "count",
      value: String(count),
      min: 1,
      max: MAX_TRAIN_COUNT,
    });
  }
  const references = options.references ?? 0;
  if (!Number.isInteger(references) || references < 0 || references > MAX_TRAIN_COUNT) {
    throw new DefectError("invalidOption", `The reference count must be a whole number from 0 to ${MAX_TRAIN_COUNT}, got ${String(references)}.`, {
      option: "references",
      value: String(references),
      min: 0,
      max: MAX_TRAIN_COUNT,
    });
  }
  const kinds = uniqueList(options.kinds ?? TEXTURE_KINDS, "kinds");
  kinds.forEach((kind) => assertTextureKind(kind));
  const defects = uniqueList(options.defects ?? DEFECT_KINDS, "defects");
  defects.forEach((defect) => assertDefectKind(defect));
  return { out: resolve(options.out), seed, size, count, references, kinds, defects };
}

function uniqueList<T>(values: readonly T[], option: string): T[] {
  if (!Array.isArray(values) || values.length === 0) {
    throw new DefectError("invalidOption", `The ${option} list must name at least one entry.`, { option });
  }
  return [...new Set(values)];
}

/**
 * Creates the folder one level at a time: Node's recursive mkdir spins forever under /proc,
 * where the kernel answers "no such entry" for children it will never allow.
 */
async function makeFolder(path: string): Promise<void> {
  const missing: string[] = [];
  for (let current = path; !(await isFolder(current)); current = dirname(current)) {
    missing.push(current);
    if (dirname(current) === current) break;
  }
  for (const folder of missing.reverse()) {
    try {
      await mkdir(folder);
    } catch (error) {
      const exists = error instanceof Error && "code" in error && error.code === "EEXIST";
      // Another writer may have made it between the check and the mkdir.
      if (exists && (await isFolder(folder))) continue;
      const reason = exists ? `"${folder}" is a file, not a folder` : describeError(error);
      throw new DefectError("fileWriteFailed", `Cannot create folder "${path}": ${reason}`, { path: folder }, { cause: error });
    }
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Keeps a few PNG encodes in flight and reports the first failure with the file's path. */
class PngWriter {
  private readonly pending = new Set<Promise<void>>();
  private failure: DefectError | undefined;

  async write(path: string, image: RawImage): Promise<void> {
    this.throwIfFailed();
    while (this.pending.size >= WRITES_IN_FLIGHT) await Promise.race(this.pending);
    this.throwIfFailed();
    const task = encode(path, image).catch((error: unknown) => {
      this.failure ??= new DefectError("fileWriteFailed", `Cannot write image "${path}": ${describeError(error)}`, { path }, { cause: error });
    });
    const tracked = task.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

async function encode(path: string, image: RawImage): Promise<void> {
  const pixels = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  let pipeline = sharp(pixels, { raw: { width: image.width, height: image.height, channels: image.channels } });
  // Without this sharp widens one-channel input to RGB; masks and gray parts stay one channel.
  if (image.channels === 1) pipeline = pipeline.toColourspace("b-w");
  await pipeline.png({ compressionLevel: PNG_COMPRESSION_LEVEL }).toFile(path);
}
