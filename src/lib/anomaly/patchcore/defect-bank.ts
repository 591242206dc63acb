/**
 * Defect memory: a second bank of patch features taken from a few labelled defect images, so a
 * patch that looks like a defect seen before scores higher than plain PatchCore gives it.
 *
 * Which patches of a labelled image go into the bank:
 *   - with a mask (or boxes drawn into one): every patch whose grid cell holds a defect pixel;
 *   - with an image label only: the patches farthest from the good bank (the `topPatches` highest
 *     good distances), kept only where they exceed `floor` (the largest patch distance seen on
 *     held-out good images) so that a good-looking patch of a defect image is not learned as a
 *     defect; at least the single farthest patch is always kept, so every label counts.
 *
 * Scoring. With d_good the patch's distance to the nearest good entry and d_defect to the nearest
 * defect entry, the defect evidence of a patch is
 *     e = max(0, d_good - d_defect)
 * (how much closer it is to a known defect than to any good part), the patch score is
 *     s = d_good + lambda * e
 * and the image score is the PatchCore image score plus lambda times the largest evidence:
 *     S = S_good + lambda * max_p e_p.
 * Why this form: a patch closer to good than to every known defect (good patches, and unknown
 * defect types that resemble nothing learned) has e = 0 and keeps exactly its PatchCore score, so
 * the defect bank can raise scores but never hide an anomaly PatchCore finds; and e is in the same
 * units as d_good, so one lambda means the same on any backbone. lambda is chosen on the labelled
 * training samples only (see `chooseLambda`), never on a test set.
 */
import { DefectError } from "../../errors";
import type { PatchEmbedding } from "../../features/types";
import type { SessionOptions } from "../../onnx";
import { auroc } from "../../metrics";
import { openNearestSearch, type NearestSearch, type SearchProjection } from "./nearest";

export interface DefectPatchOptions {
  /** Patches kept per image-label-only defect image. */
  topPatches: number;
}

/** 8 of 1024 patches (256 px, stride 8) is a region of about 22 x 22 px: a typical small defect. */
export const DEFAULT_DEFECT_PATCH_OPTIONS: Readonly<DefectPatchOptions> = Object.freeze({ topPatches: 8 });

/**
 * Lambdas tried by `chooseLambda`, doubling: 0 (defect bank unused) up to 64, where the evidence
 * decides nearly alone (it is then about 64 times the PatchCore score's weight).
 */
export const DEFAULT_LAMBDAS: readonly number[] = Object.freeze([0, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64]);

/**
 * A pixel mask (1 = defect, row-major width x height) reduced to the patch grid: a cell is a
 * defect cell when any of its pixels is, because defects here are often smaller than a cell.
 */
export function patchGridMask(mask: Uint8Array, width: number, height: number, gridWidth: number, gridHeight: number): Uint8Array {
  if (mask.length !== width * height) {
    throw new DefectError("maskSizeMismatch", `mask holds ${mask.length} pixels, expected ${width} x ${height}`, {
      expected: width * height,
      actual: mask.length,
    });
  }
  const grid = new Uint8Array(gridWidth * gridHeight);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(gridHeight - 1, Math.floor((y * gridHeight) / height));
    for (let x = 0; x < width; x++) {
      if ((mask[y * width + x] as number) !== 0) grid[gy * gridWidth + Math.min(gridWidth - 1, Math.floor((x * gridWidth) / width))] = 1;
    }
  }
  return grid;
}

/**
 * Patch rows of one labelled defect image that go into the defect bank (see the file comment).
 * `goodDistances` holds each patch's distance to the good bank; `region` a patch-grid mask or null.
 */
export function selectDefectPatches(goodDistances: Float32Array, region: Uint8Array | null, floor: number, options: DefectPatchOptions): Int32Array {
  if (region !== null) {
    if (region.length !== goodDistances.length) {
      throw new DefectError("maskSizeMismatch", `region covers ${region.length} patches, the image has ${goodDistances.length}`, {
        expected: goodDistances.length,
        actual: region.length,
      });
    }
    const rows: number[] = [];
    region.forEach((v, p) => {
      if (v !== 0) rows.push(p);
    });
    return Int32Array.from(rows);
  }
  const order = Array.from({ length: goodDistances.length }, (_, p) => p).sort((a, b) => (goodDistances[b] as number) - (goodDistances[a] as number));
  const top = order.slice(0, Math.max(1, options.topPatches));
  const above = top.filter((p) => (goodDistances[p] as number) > floor);
  return Int32Array.from(above.length > 0 ? above : top.slice(0, 1));
}

export interface DefectBank {
  data: Float32Array;
  size: number;
  dim: number;
  /** Index of the labelled image each row came from, so one image can be left out. */
  sources: Int32Array;
}

export interface LabelledPatches {
  embedding: PatchEmbedding;
  rows: Int32Array;
}

export function buildDefectBank(samples: readonly LabelledPatches[]): DefectBank {
  const dim = samples[0]?.embedding.dim ?? 0;
  const size = samples.reduce((n, s) => n + s.rows.length, 0);
  if (size === 0)
    throw new DefectError("invalidOption", "no defect patches: label at least one defect image", { option: "defectShots", value: samples.length });
  const data = new Float32Array(size * dim);
  const sources = new Int32Array(size);
  let r = 0;
  samples.forEach((sample, source) => {
    if (sample.embedding.dim !== dim) {
      throw new DefectError("inputShapeMismatch", `defect image ${source} has ${sample.embedding.dim}-value patches, the first ${dim}`, {
        expected: dim,
        actual: sample.embedding.dim,
      });
    }
    for (const p of sample.rows) {
      data.set(sample.embedding.data.subarray(p * dim, p * dim + dim), r * dim);
      sources[r++] = source;
    }
  });
  return { data, size, dim, sources };
}

/** Nearest-defect distances per patch, optionally ignoring the rows of one labelled image. */
export class DefectBankSearch {
  private constructor(
    private readonly bank: DefectBank,
    private readonly search: NearestSearch,
    /** The most rows one image gave: enough neighbours to step past all of them. */
    private readonly maxPerSource: number,
  ) {}

  /**
   * `projection`: the good bank's search subspace when it searches approximately, so that
   * d_defect is measured in the same space as d_good and their difference means something.
   */
  static async open(bank: DefectBank, session?: SessionOptions, projection?: SearchProjection): Promise<DefectBankSearch> {
    const counts = new Map<number, number>();
    for (const s of bank.sources) counts.set(s, (counts.get(s) ?? 0) + 1);
    return new DefectBankSearch(bank, await openNearestSearch(bank.data, bank.size, bank.dim, session, projection), Math.max(...counts.values()));
  }

  /**
   * d_defect per patch. With `leaveOut`, the rows of that labelled image are skipped (scoring a
   * labelled image against a bank that holds its own patches would find distance 0); a patch
   * whose every neighbour is left out gets +Infinity (no evidence).
   */
  async distances(embedding: PatchEmbedding, leaveOut?: number): Promise<Float32Array> {
    if (embedding.dim !== this.bank.dim) {
      throw new DefectError("inputShapeMismatch", `patch features have ${embedding.dim} values, the defect bank ${this.bank.dim}`, {
        expected: this.bank.dim,
        actual: embedding.dim,
      });
    }
    const k = leaveOut === undefined ? 1 : this.maxPerSource + 1;
    const found = await this.search.search(embedding.data, embedding.patches, k);
    const out = new Float32Array(embedding.patches).fill(Number.POSITIVE_INFINITY);
    for (let p = 0; p < embedding.patches; p++) {
      for (let j = 0; j < found.k; j++) {
        const row = found.indices[p * found.k + j] as number;
        if (leaveOut === undefined || this.bank.sources[row] !== leaveOut) {
          out[p] = found.distances[p * found.k + j] as number;
          break;
        }
      }
    }
    return out;
  }

  release(): Promise<void> {
    return this.search.release();
  }
}

/** e_p = max(0, d_good - d_defect) per patch. */
export function defectEvidence(goodDistances: Float32Array, defectDistances: Float32Array): Float32Array {
  if (goodDistances.length !== defectDistances.length)
    throw new RangeError(`${goodDistances.length} good distances, ${defectDistances.length} defect distances`);
  return goodDistances.map((d, p) => Math.max(0, d - (defectDistances[p] as number)));
}

/** s_p = d_good + lambda e_p: the defect-aware patch map. */
export function defectAwarePatchScores(goodDistances: Float32Array, evidence: Float32Array, lambda: number): Float32Array {
  return goodDistances.map((d, p) => d + lambda * (evidence[p] as number));
}

/** S = S_good + lambda max_p e_p. */
export function defectAwareImageScore(goodScore: number, evidence: Float32Array, lambda: number): number {
  let max = 0;
  for (const e of evidence) if (e > max) max = e;
  return goodScore + lambda * max;
}

/** What `chooseLambda` needs of one labelled image: its PatchCore score and its largest evidence. */
export interface ScoredSample {
  goodScore: number;
  maxEvidence: number;
}

/** S = S_good + lambda max_p e_p for a sample already reduced to its two numbers. */
export function defectAwareScore(sample: ScoredSample, lambda: number): number {
  return sample.goodScore + lambda * sample.maxEvidence;
}

export interface LambdaChoice {
  lambda: number;
  /** Image AUROC of the labelled samples at each candidate (defects scored leave-one-out). */
  aurocs: Array<{ lambda: number; auroc: number }>;
}

/**
 * The lambda under which the labelled samples separate best (image AUROC, good against defect;
 * the defects scored leave-one-out); ties go to the smaller lambda, the smaller change to
 * PatchCore. AUROC rather than F1 because with ten defects F1 at its own optimal threshold is
 * often 1 for several lambdas, while the ranking still tells them apart.
 */
export function chooseLambda(good: readonly ScoredSample[], defect: readonly ScoredSample[], candidates: readonly number[] = DEFAULT_LAMBDAS): LambdaChoice {
  if (good.length === 0 || defect.length === 0) {
    throw new DefectError("calibrationFailed", `choosing lambda needs good and defect samples, got ${good.length} good and ${defect.length} defect`, {
      good: good.length,
      defect: defect.length,
    });
  }
  const labels = [...good.map(() => 0), ...defect.map(() => 1)];
  const aurocs = [...candidates]
    .sort((a, b) => a - b)
    .map((lambda) => ({
      lambda,
      auroc: auroc(
        [...good, ...defect].map((s) => defectAwareScore(s, lambda)),
        labels,
      ),
    }));
  let best = aurocs[0] as { lambda: number; auroc: number };
  for (const a of aurocs) if (a.auroc > best.auroc) best = a;
  return { lambda: best.lambda, aurocs };
}
