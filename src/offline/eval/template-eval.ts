/**
 * Template comparison measured on a dataset in DeepPCB layout:
 *   train_defect/defect/<id>.jpg  defective training parts, with templates train/good/<id>.jpg
 *   annotations/train/<id>.json   their defect boxes
 *   test/defect/<id>.jpg          test parts, with templates reference/<id>.jpg (or referenceDir)
 *   annotations/test/<id>.json    their defect boxes (the truth for recall and false regions)
 *   ground_truth/defect/<id>_mask.png  box masks for the pixel metrics (built from boxes if absent)
 * The normal-difference model and its operating threshold are fitted on the training pairs only.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DefectError, describeError } from "../../lib/errors";
import { DEFAULT_MAX_PIXELS, decodeImage } from "../../lib/image";
import { aupro, pixelAuroc, type MapWithMask } from "../../lib/metrics";
import { parseAnnotations, type AnnotatedDefect } from "../template/annotations";
import { comparePlanes } from "../../lib/anomaly/template/compare";
import { NormalModelFitter, type NormalModelFitOptions } from "../template/fit-normal-model";
import { gaussianBlur } from "../../lib/anomaly/template/filters";
import { checkNormalModel, type NormalDifferenceModel } from "../../lib/anomaly/template/normal-model";
import { toGrayPlane, type GrayPlane } from "../../lib/anomaly/template/plane";
import { boxMask, componentBoxStats, scoreAtMinArea } from "../template/regions-eval";
import { DEFAULT_REGISTRATION, type RegistrationOptions } from "../../lib/anomaly/template/registration";
import { sparseComponents } from "../../lib/anomaly/template/sparse-components";

export interface TemplateEvalOptions {
  /** Dataset root, e.g. ../shared/datasets/deeppcb. */
  data: string;
  /** Folder of the test images' templates; default <data>/reference. */
  referenceDir?: string;
  /** Test pairs to use (first ones in name order); default all. */
  limit?: number;
  /** Training pairs to fit on; default all. */
  trainLimit?: number;
  fit?: Partial<NormalModelFitOptions>;
  /** Alignment for fitting and testing alike; default global shift plus local field. */
  registration?: RegistrationOptions;
  /** A model fitted before: skips fitting. */
  model?: NormalDifferenceModel;
  progress?: (line: string) => void;
}

export interface TypeRecall {
  boxes: number;
  found: number;
  recall: number;
}

export interface TemplateEvalResult {
  dataset: string;
  train_pairs: number;
  test_pairs: number;
  boxes: number;
  /** Share of annotated boxes hit by at least one region. */
  defect_recall: number;
  /** Regions touching no annotated box, per test image. */
  false_regions_per_image: number;
  pixel_auroc: number;
  aupro: number;
  /**
   * The same two metrics on the map blurred with sigma 4, as PatchCore's maps are: box masks
   * reward spreading a detection over its box, which the sharp map does not do.
   */
  pixel_auroc_sigma4: number;
  aupro_sigma4: number;
  /** Median per pair (decoding excluded), total and split by stage. */
  ms_per_image: number;
  ms_split: { align: number; compare: number; post: number };
  fit_seconds: number;
  threshold: number;
  /** Test images whose line-width drift was compensated (non-zero on some axis). */
  width_drift_images: number;
  recall_by_type: Record<string, TypeRecall>;
  /** The chosen operating point's scores on the training pairs. */
  train_recall: number | null;
  train_false_regions_per_image: number | null;
  model: NormalDifferenceModel;
}

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };
const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"];
const MASK_LEVEL = 128;
/** Blur of the second set of pixel metrics, the sigma the PatchCore reference applies to its maps. */
const METRIC_BLUR_SIGMA = 4;

interface Pair {
  id: string;
  test: string;
  reference: string;
  annotation: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function requireFolder(path: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new DefectError("folderNotFound", `The folder ${path} does not exist.`, { path });
  }
}

function imagePath(folder: string, id: string): string {
  for (const ext of IMAGE_EXTENSIONS) {
    const path = join(folder, id + ext);
    if (existsSync(path)) return path;
  }
  throw new DefectError("fileNotFound", `No image for "${id}" in ${folder} (tried ${IMAGE_EXTENSIONS.join(", ")}).`, { path: join(folder, id) });
}

/** Pairs listed by the annotation files of one split, in name order. */
function listPairs(root: string, split: "train" | "test", testDir: string, referenceDir: string, limit?: number): Pair[] {
  const annotations = join(root, "annotations", split);
  requireFolder(annotations);
  requireFolder(testDir);
  requireFolder(referenceDir);
  const ids = readdirSync(annotations)
    .filter((name) => name.endsWith(".json"))
    .map((name) => name.slice(0, -".json".length))
    .sort();
  const chosen = limit === undefined ? ids : ids.slice(0, limit);
  return chosen.map((id) => ({
    id,
    test: imagePath(testDir, id),
    reference: imagePath(referenceDir, id),
    annotation: join(annotations, `${id}.json`),
  }));
}

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new DefectError("fileReadFailed", `Could not read ${path}: ${describeError(err)}`, { path }, { cause: err });
  }
}

async function loadPlane(path: string, name: string): Promise<GrayPlane> {
  return toGrayPlane(await decodeImage(await readBytes(path), LIMITS), name);
}

async function loadDefects(path: string): Promise<AnnotatedDefect[]> {
  return parseAnnotations((await readBytes(path)).toString("utf8"), path);
}

/** The box mask of the pixel metrics: the dataset's own file when present, else drawn from the boxes. */
async function loadMask(root: string, id: string, defects: AnnotatedDefect[], width: number, height: number): Promise<Uint8Array> {
  const path = join(root, "ground_truth", "defect", `${id}_mask.png`);
  if (!existsSync(path))
    return boxMask(
      defects.map((d) => d.box),
      width,
      height,
    );
  const image = await decodeImage(await readBytes(path), LIMITS);
  if (image.width !== width || image.height !== height) {
    throw new DefectError("imageSizeMismatch", `The mask ${path} is ${image.width}x${image.height} but its image is ${width}x${height}.`, {
      path,
      width: image.width,
      height: image.height,
    });
  }
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = (image.data[i * image.channels] as number) >= MASK_LEVEL ? 1 : 0;
  return mask;
}

async function fitModel(pairs: Pair[], fit: Partial<NormalModelFitOptions> | undefined, log: (line: string) => void): Promise<NormalDifferenceModel> {
  const fitter = new NormalModelFitter(fit);
  for (const pair of pairs) {
    const [test, reference, defects] = await Promise.all([
      loadPlane(pair.test, "training image"),
      loadPlane(pair.reference, "template"),
      loadDefects(pair.annotation),
    ]);
    fitter.add({ test, reference, boxes: defects.map((d) => d.box) });
    if (fitter.size % 50 === 0) log(`aligned ${fitter.size}/${pairs.length} training pairs`);
  }
  return fitter.finish();
}

export async function evaluateTemplate(options: TemplateEvalOptions): Promise<TemplateEvalResult> {
  const root = options.data;
  requireFolder(root);
  const log = options.progress ?? (() => undefined);
  const referenceDir = options.referenceDir ?? join(root, "reference");
  const testPairs = listPairs(root, "test", join(root, "test", "defect"), referenceDir, options.limit);

  const fitStart = performance.now();
  let trainPairs = 0;
  let model: NormalDifferenceModel;
  if (options.model) {
    model = checkNormalModel(options.model);
  } else {
    const pairs = listPairs(root, "train", join(root, "train_defect", "defect"), join(root, "train", "good"), options.trainLimit);
    trainPairs = pairs.length;
    model = await fitModel(pairs, { ...options.fit, ...(options.registration ? { registration: options.registration } : {}) }, log);
  }
  const fitSeconds = (performance.now() - fitStart) / 1000;
  log(`fitted on ${trainPairs} pairs in ${fitSeconds.toFixed(1)} s: threshold ${model.threshold}, min area ${model.minArea}`);

  const byType: Record<string, TypeRecall> = {};
  const times = { align: [] as number[], compare: [] as number[], post: [] as number[], total: [] as number[] };
  const samples: MapWithMask[] = [];
  const blurred: MapWithMask[] = [];
  let boxes = 0;
  let found = 0;
  let falseRegions = 0;
  let positives = 0;
  let drifted = 0;
  for (const pair of testPairs) {
    const [test, reference, defects] = await Promise.all([
      loadPlane(pair.test, "test image"),
      loadPlane(pair.reference, "reference"),
      loadDefects(pair.annotation),
    ]);
    const result = comparePlanes(test, reference, model, { registration: options.registration ?? DEFAULT_REGISTRATION });
    const { align, compare, post } = result.timings;
    times.align.push(align);
    times.compare.push(compare);
    times.post.push(post);
    times.total.push(align + compare + post);
    if (result.widthBias.x !== 0 || result.widthBias.y !== 0) drifted++;
    const { width, height } = test;
    // The regions' pixels, to see which boxes they touch (outside the timing).
    const boxesOfPair = defects.map((d) => d.box);
    const components = sparseComponents(result.map.data, width, model.threshold);
    const score = scoreAtMinArea(componentBoxStats(components, width, boxesOfPair, boxMask(boxesOfPair, width, height)), model.minArea);
    falseRegions += score.falseRegions;
    defects.forEach((d, k) => {
      const entry = (byType[d.type] ??= { boxes: 0, found: 0, recall: 0 });
      entry.boxes++;
      if (score.hit[k]) entry.found++;
    });
    boxes += defects.length;
    found += score.hit.filter(Boolean).length;
    const mask = await loadMask(root, pair.id, defects, width, height);
    for (let i = 0; i < mask.length; i++) positives += mask[i] as number;
    samples.push({ map: result.map.data, mask, width, height });
    blurred.push({ map: gaussianBlur(result.map, METRIC_BLUR_SIGMA).data, mask, width, height });
    if (samples.length % 50 === 0) log(`compared ${samples.length}/${testPairs.length} test pairs`);
  }
  for (const entry of Object.values(byType)) entry.recall = entry.found / entry.boxes;
  return {
    dataset: root,
    train_pairs: trainPairs,
    test_pairs: testPairs.length,
    boxes,
    defect_recall: boxes === 0 ? Number.NaN : found / boxes,
    false_regions_per_image: testPairs.length === 0 ? Number.NaN : falseRegions / testPairs.length,
    pixel_auroc: pixelAuroc(samples, positives),
    aupro: aupro(samples),
    pixel_auroc_sigma4: pixelAuroc(blurred, positives),
    aupro_sigma4: aupro(blurred),
    ms_per_image: median(times.total),
    ms_split: { align: median(times.align), compare: median(times.compare), post: median(times.post) },
    fit_seconds: fitSeconds,
    threshold: model.threshold,
    width_drift_images: drifted,
    recall_by_type: byType,
    train_recall: model.fit?.recall ?? null,
    train_false_regions_per_image: model.fit?.falseRegionsPerImage ?? null,
    model,
  };
}
