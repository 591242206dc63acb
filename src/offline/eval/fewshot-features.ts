/**
 * Features for the few-shot sweep, computed once: every test image's patch features (optionally
 * cached in one raw float32 file per dataset + backbone, so later sweeps skip the backbone), and
 * the first shots' features with those of their augmented variants, made as the detector's
 * rounds make them (detector/fit/support-set.ts).
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import type { PatchExtractor } from "../../lib/features/extractor";
import type { PatchEmbedding } from "../../lib/features/types";
import { DEFAULT_MAX_PIXELS, preprocessImage, type PreprocessOptions } from "../../lib/image";
import { supportVariants, type AugmentChoice } from "../../lib/detector/fit/support-set";
import { standardizeRows } from "../../lib/features/instance-norm";
import type { Tensor } from "../../lib/image/types";
import type { MvtecDataset } from "./mvtec-dataset";

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };

/** Patch features of the test images, read one image at a time. */
export interface TestFeatures {
  count: number;
  /** Features of test image i (dataset order). */
  get(i: number): PatchEmbedding;
  close(): void;
}

interface CacheIndex {
  images: string[];
  patches: number;
  dim: number;
  gridWidth: number;
  gridHeight: number;
}

function cacheKey(dataset: MvtecDataset, backboneKey: string, preprocess: PreprocessOptions): string {
  // Names relative to the dataset folder, so ../shared/x and /abs/shared/x share one cache.
  const test = dataset.test.map((t) => relative(dataset.root, t.path));
  const hash = createHash("sha256").update(JSON.stringify({ backboneKey, preprocess, test })).digest("hex");
  return `${basename(dataset.root)}-${hash.slice(0, 12)}`;
}

function openCached(file: string, index: CacheIndex): TestFeatures {
  const fd = openSync(file, "r");
  const values = index.patches * index.dim;
  return {
    count: index.images.length,
    get(i) {
      const data = new Float32Array(values);
      readSync(fd, new Uint8Array(data.buffer), 0, values * 4, i * values * 4);
      return { data, patches: index.patches, dim: index.dim, gridWidth: index.gridWidth, gridHeight: index.gridHeight };
    },
    close: () => closeSync(fd),
  };
}

/**
 * Embeds every test image once. With `cacheDir` the features go to `<dataset>-<hash>.f32` (+ .json)
 * and a later call with the same dataset, backbone and preprocessing reads them back.
 */
export async function testFeatures(
  dataset: MvtecDataset,
  extractor: PatchExtractor,
  preprocess: PreprocessOptions,
  backboneKey: string,
  cacheDir: string | undefined,
  log: (line: string) => void,
): Promise<TestFeatures> {
  const key = cacheKey(dataset, backboneKey, preprocess);
  const file = cacheDir === undefined ? undefined : join(cacheDir, `${key}.f32`);
  if (file !== undefined && existsSync(`${file}.json`)) {
    log(`test features from ${file}`);
    return openCached(file, JSON.parse(readFileSync(`${file}.json`, "utf8")) as CacheIndex);
  }
  const kept: PatchEmbedding[] = [];
  let fd: number | undefined;
  if (file !== undefined && cacheDir !== undefined) {
    mkdirSync(cacheDir, { recursive: true });
    fd = openSync(`${file}.part`, "w");
  }
  let first: PatchEmbedding | undefined;
  for (const [i, sample] of dataset.test.entries()) {
    const { tensor } = await preprocessImage(await readFile(sample.path), preprocess, LIMITS);
    const e = await extractor.embed(tensor);
    first ??= e;
    if (fd === undefined) kept.push(e);
    else writeSync(fd, new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    if ((i + 1) % 100 === 0) log(`test features ${i + 1}/${dataset.test.length}`);
  }
  if (fd === undefined || file === undefined || first === undefined) {
    return { count: kept.length, get: (i) => kept[i] as PatchEmbedding, close: () => undefined };
  }
  closeSync(fd);
  renameSync(`${file}.part`, file);
  const index: CacheIndex = {
    images: dataset.test.map((t) => t.path),
    patches: first.patches,
    dim: first.dim,
    gridWidth: first.gridWidth,
    gridHeight: first.gridHeight,
  };
  writeFileSync(`${file}.json`, JSON.stringify(index));
  return openCached(file, index);
}

/** One shot: its own features and those of its variants (empty without augmentation). */
export interface ShotFeatures {
  original: Float32Array;
  variants: Float32Array[];
}

/**
 * Embeds the first `count` training images and, when `augment` is given, their variants: those a
 * detector round of `count` images learns with that choice (all shots' in mode "on" with
 * maxShots >= count; shot i's variants do not depend on how many shots follow it).
 */
export async function shotFeatures(
  dataset: MvtecDataset,
  count: number,
  extractor: PatchExtractor,
  preprocess: PreprocessOptions,
  augment: AugmentChoice | null,
  seed?: number,
): Promise<{ shots: ShotFeatures[]; dim: number; grid: { patches: number; width: number; height: number } }> {
  const tensors: Tensor[] = [];
  for (const path of dataset.train.slice(0, count)) tensors.push((await preprocessImage(await readFile(path), preprocess, LIMITS)).tensor);
  const variants = augment === null ? [] : supportVariants(augment, tensors, preprocess, seed).variants;
  const shots: ShotFeatures[] = [];
  let dim = 0;
  const grid = { patches: 0, width: 0, height: 0 };
  for (const tensor of tensors) {
    const e = await extractor.embed(tensor);
    dim = e.dim;
    Object.assign(grid, { patches: e.patches, width: e.gridWidth, height: e.gridHeight });
    shots.push({ original: e.data, variants: [] });
  }
  for (const variant of variants) (shots[variant.shot] as ShotFeatures).variants.push((await extractor.embed(variant.make())).data);
  return { shots, dim, grid };
}

/** The shots with per-image standardised features (features/instance-norm.ts), originals and variants alike. */
export function standardizedShots(shots: readonly ShotFeatures[], patches: number, dim: number): ShotFeatures[] {
  return shots.map((shot) => ({
    original: standardizeRows(shot.original, patches, dim),
    variants: shot.variants.map((v) => standardizeRows(v, patches, dim)),
  }));
}
