/**
 * PatchCore (Roth et al. 2022) as anomalib implements it: a memory bank of locally aware
 * patch features of good images, reduced by greedy k-center coreset selection; a patch's score
 * is its distance to the nearest bank entry; the image score is the largest patch score,
 * re-weighted by how isolated its nearest bank entry is (softmax over that entry's neighbours),
 * or one read from the anomaly map itself (its peak, or the mean of its largest 1 %).
 */
import { DefectError } from "../../errors";
import type { ScoreMap } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import type { PatchEmbedding } from "../../features/types";
import type { Tensor } from "../../image/types";
import { mapMax, mapTopMean, upsampleNearestBlurred } from "../map-ops";
import { bankSizeFor, openCoresetProjector, searchProjection, selectBankRows } from "./bank-select";
import { openSearchOver, searchSpaceBank, type NearestSearch, type Neighbours } from "./nearest";
import { FusedScoring, type FusableBackbone, type MapRequest } from "./fused-scoring";
import { singleBlock } from "./row-blocks";
import { weighPlaces } from "./place-weights";

export { bankSizeFor } from "./bank-select";

/**
 * How an image's score is made from its patch scores. "reweighted": the PatchCore paper's rule
 * (largest patch distance, re-weighted). "map-max": the largest value of the anomaly map at the
 * model's resolution (patch scores upsampled and blurred), so that an image is above a threshold
 * exactly when its map is somewhere: the verdict and the defect mask cut at the same threshold
 * agree, and one stray patch without a close match in a small bank counts only as much as the
 * blur leaves of it. "map-top-mean": the mean of the map's largest 1 % (MAP_TOP_SHARE), a peak
 * that counts how much of the part stands out, not only how far its worst point does (chosen on
 * training data, BENCHMARKS.md "Image score rules").
 */
export const IMAGE_SCORE_RULES = ["reweighted", "map-max", "map-top-mean"] as const;
export type ImageScoreRule = (typeof IMAGE_SCORE_RULES)[number];

/** The share of the anomaly map whose mean is the "map-top-mean" image score. */
export const MAP_TOP_SHARE = 0.01;

export interface PatchCoreOptions {
  /** Fraction of all training patches kept in the bank. */
  coresetRatio: number;
  /** Hard cap on bank rows, so memory stays bounded whatever the number of training images. */
  maxBankSize: number;
  /** Neighbours used to re-weight the image score (1 = plain maximum). */
  numNeighbors: number;
  /** Dimensions of the random projection used only for coreset distances. */
  projectionDim: number;
  blurSigma: number;
  seed: number;
  /**
   * 0 = exact search. Otherwise nearest neighbours are searched in the bank's top principal
   * subspace of this many dimensions: a measured approximation that cuts the scoring cost.
   */
  scoringDim: number;
  imageScore: ImageScoreRule;
}

/**
 * Coreset 0.05 and a 256-dimensional search subspace: within 0.01 image AUROC of the reference
 * (coreset 0.1, exact) on magnetic_tile and casting at a third of its scoring time (BENCHMARKS.md).
 */
export const DEFAULT_PATCHCORE_OPTIONS: Readonly<PatchCoreOptions> = Object.freeze({
  coresetRatio: 0.05,
  maxBankSize: 40_000,
  numNeighbors: 9,
  projectionDim: 128,
  // anomalib's; the unsupervised setting with an ImageNet backbone uses SHARP_MAP_SIGMA (setting-presets.ts).
  blurSigma: 4,
  seed: 0,
  scoringDim: 256,
  imageScore: "reweighted",
});

export interface MemoryBank {
  data: Float32Array;
  size: number;
  dim: number;
  /** [dim, scoringDim] basis of the search subspace, when searching approximately. */
  projection: Float32Array | null;
}

export async function buildMemoryBank(
  features: Float32Array,
  count: number,
  dim: number,
  options: PatchCoreOptions,
  session?: SessionOptions,
): Promise<MemoryBank> {
  if (count < 1) throw new DefectError("invalidOption", "no training patches: learn from at least one good image", { option: "train", value: 0 });
  const size = bankSizeFor(count, options);
  let indices: Int32Array;
  if (size >= count) {
    indices = Int32Array.from({ length: count }, (_, i) => i);
  } else {
    const projector = await openCoresetProjector(dim, options, session);
    let space = features;
    if (projector !== null) {
      try {
        space = await projector.project(features, count);
      } finally {
        await projector.release();
      }
    }
    indices = await selectBankRows(singleBlock(space, count, projector?.outDim ?? dim), options, session);
  }
  const data = new Float32Array(size * dim);
  indices.forEach((row, i) => data.set(features.subarray(row * dim, row * dim + dim), i * dim));
  return { data, size, dim, projection: await searchProjection(data, size, dim, options, session) };
}

export interface PatchScores {
  score: number;
  /** Patch scores on the feature grid. */
  grid: ScoreMap;
}

export interface MapScores extends PatchScores {
  /** The anomaly map at the size asked for. */
  map: ScoreMap;
}

/** Patch scores of an image scored from its tensor, with the run times of its two stages. */
export interface TensorScores extends PatchScores {
  /** The patch features, when asked for. */
  embedding?: PatchEmbedding;
  /** The anomaly map at the size asked for (as anomalyMap), made on the model's worker. */
  map?: ScoreMap;
  /** The mean of the patch features (appearance.ts). */
  meanFeatures: Float32Array;
  backboneMs: number;
  scoringMs: number;
}

export class PatchCoreScorer {
  private search: Promise<NearestSearch> | undefined;
  private fused: FusedScoring | undefined;

  private constructor(
    private readonly bank: MemoryBank,
    /** The bank in its search space, to build searches from; null for a scorer over a given search. */
    private readonly searchBank: Float32Array | null,
    search: NearestSearch | undefined,
    private readonly options: PatchCoreOptions,
    private readonly session: SessionOptions | undefined,
    /** Each patch's place weight (place-weights.ts); null: every place counts alike. */
    private readonly places: Float32Array | null,
  ) {
    this.search = search === undefined ? undefined : Promise.resolve(search);
  }

  static async open(bank: MemoryBank, options: PatchCoreOptions, session?: SessionOptions, places: Float32Array | null = null): Promise<PatchCoreScorer> {
    return new PatchCoreScorer(bank, await searchSpaceBank(bank.data, bank.size, bank.dim, projectionOf(bank), session), undefined, options, session, places);
  }

  /**
   * A scorer whose nearest rows come from `search`, which answers with rows of `bank` (a search
   * over some of its rows, union-search.ts); releasing the scorer releases `search`.
   */
  static over(bank: MemoryBank, search: NearestSearch, options: PatchCoreOptions): PatchCoreScorer {
    return new PatchCoreScorer(bank, null, search, options, undefined, null);
  }

  /**
   * Whether scoreTensor can score from an image tensor on `backbone`'s worker (a scorer over its
   * own bank, with the backbone's layer shapes known).
   */
  canScoreTensor(backbone: FusableBackbone | undefined): backbone is FusableBackbone {
    return this.searchBank !== null && backbone !== undefined;
  }

  /**
   * The patch scores and re-weighted image score of an image, from its preprocessed tensor: the
   * backbone and this bank's fused scoring run as one job on the backbone's worker, and only the
   * scores (and the features, with `withEmbedding`) come back. Same values as embed + scorePatches.
   */
  async scoreTensor(backbone: FusableBackbone, tensor: Tensor, withEmbedding: boolean, mapSize?: { width: number; height: number }): Promise<TensorScores> {
    const run = await this.fusedScoring().run(backbone, tensor, withEmbedding, this.mapRequest(mapSize));
    const patches = run.distances.length;
    const score = this.reweightWith(run.worstRow, run.distances[run.worstPatch] as number, run.support);
    return {
      score,
      grid: { data: run.distances, width: run.gridWidth, height: patches / run.gridWidth },
      ...(run.embedding === undefined ? {} : { embedding: run.embedding }),
      ...(run.map === undefined ? {} : { map: run.map }),
      meanFeatures: run.meanFeatures,
      backboneMs: run.backboneMs,
      scoringMs: run.scoringMs,
    };
  }

  /**
   * Makes scoreTensor's graph for these arguments ready before the first image needs it (sending
   * the bank to the worker that builds it stalls the sending thread ~30 ms); a no-op until the
   * backbone's layer shapes are known.
   */
  async prepareTensorScoring(backbone: FusableBackbone, withEmbedding: boolean, mapSize?: { width: number; height: number }): Promise<void> {
    if (this.canScoreTensor(backbone)) await this.fusedScoring().prepare(backbone, withEmbedding, this.mapRequest(mapSize));
  }

  private fusedScoring(): FusedScoring {
    if (this.searchBank === null) throw new Error("scoreTensor needs a scorer opened over its own bank");
    this.fused ??= new FusedScoring(this.searchBank, this.bank, this.options.numNeighbors, this.session, this.places);
    return this.fused;
  }

  private mapRequest(mapSize: { width: number; height: number } | undefined): MapRequest | undefined {
    return mapSize === undefined ? undefined : { ...mapSize, sigma: this.options.blurSigma };
  }

  get bankSize(): number {
    return this.bank.size;
  }

  /** Patch scores (place-weighted, where the scorer has weights) and the re-weighted image score (the paper's rule, whatever the options say). */
  async scorePatches(embedding: PatchEmbedding): Promise<PatchScores> {
    const nearest = await this.nearest(embedding);
    const distances = weighPlaces(nearest.distances, this.places);
    let maxPatch = 0;
    for (let p = 1; p < embedding.patches; p++) if ((distances[p] as number) > (distances[maxPatch] as number)) maxPatch = p;
    const score = await this.reweight(embedding, maxPatch, distances[maxPatch] as number, nearest.indices[maxPatch] as number);
    return { score, grid: { data: distances, width: embedding.gridWidth, height: embedding.gridHeight } };
  }

  /** Patch scores, the anomaly map at width x height, and the image score by the options' rule. */
  async scoreImage(embedding: PatchEmbedding, width: number, height: number): Promise<MapScores> {
    const patches = await this.scorePatches(embedding);
    const map = this.anomalyMap(patches.grid, width, height);
    return { score: this.imageScoreOf(patches.score, map), grid: patches.grid, map };
  }

  /**
   * The image score by the options' rule, from the re-weighted score and the anomaly map; a map
   * given as a function is made only when the rule needs it.
   */
  imageScoreOf(reweighted: number, map: ScoreMap | (() => ScoreMap)): number {
    const rule = this.options.imageScore;
    if (rule === "reweighted") return reweighted;
    return mapImageScore(rule, typeof map === "function" ? map() : map);
  }

  private async nearest(embedding: PatchEmbedding): Promise<Neighbours> {
    if (embedding.dim !== this.bank.dim) {
      throw new DefectError("inputShapeMismatch", `patch features have ${embedding.dim} values, the memory bank ${this.bank.dim}`, {
        expected: this.bank.dim,
        actual: embedding.dim,
      });
    }
    return (await this.nearestSearch()).search(embedding.data, embedding.patches, 1);
  }

  /** Built on first use: a line that scores from tensors never needs it. */
  private nearestSearch(): Promise<NearestSearch> {
    if (this.search === undefined) {
      const searchBank = this.searchBank as Float32Array;
      const opening = openSearchOver(searchBank, this.bank.size, this.bank.dim, projectionOf(this.bank), this.session);
      this.search = opening;
      opening.catch(() => {
        if (this.search === opening) this.search = undefined;
      });
    }
    return this.search;
  }

  /** Full-resolution map: nearest upsampling then Gaussian blur, as anomalib. */
  anomalyMap(grid: ScoreMap, width: number, height: number): ScoreMap {
    return upsampleNearestBlurred(grid, width, height, this.options.blurSigma);
  }

  private async reweight(embedding: PatchEmbedding, patch: number, distance: number, bankRow: number): Promise<number> {
    const k = Math.min(this.options.numNeighbors, this.bank.size);
    if (k <= 1) return distance;
    const dim = this.bank.dim;
    const support = await (await this.nearestSearch()).search(this.bank.data.slice(bankRow * dim, bankRow * dim + dim), 1, k);
    return this.reweightWith(embedding.data.subarray(patch * dim, patch * dim + dim), distance, support.indices);
  }

  /**
   * The paper's re-weighting: the worst patch's distance times one minus the softmax weight of
   * its nearest row among that row's `support` neighbours (itself first), by full distances.
   */
  private reweightWith(query: Float32Array, distance: number, support: ArrayLike<number>): number {
    const k = Math.min(this.options.numNeighbors, this.bank.size, support.length);
    if (k <= 1) return distance;
    const dim = this.bank.dim;
    const d = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const row = (support[i] as number) * dim;
      let s = 0;
      for (let c = 0; c < dim; c++) {
        const diff = (query[c] as number) - (this.bank.data[row + c] as number);
        s += diff * diff;
      }
      d[i] = Math.sqrt(s);
    }
    const max = Math.max(...d);
    let sum = 0;
    for (let i = 0; i < d.length; i++) sum += Math.exp((d[i] as number) - max);
    const softmax0 = Math.exp((d[0] as number) - max) / sum;
    return (1 - softmax0) * distance;
  }

  async release(): Promise<void> {
    const search = this.search;
    this.search = undefined;
    await Promise.all([
      search?.then(
        (s) => s.release(),
        () => undefined,
      ),
      this.fused?.release(),
    ]);
  }
}

/** An image score read from the anomaly map by one of the map rules. */
export function mapImageScore(rule: Exclude<ImageScoreRule, "reweighted">, map: ScoreMap): number {
  return rule === "map-max" ? mapMax(map) : mapTopMean(map, MAP_TOP_SHARE);
}

function projectionOf(bank: MemoryBank): { matrix: Float32Array; outDim: number } | undefined {
  return bank.projection === null ? undefined : { matrix: bank.projection, outDim: bank.projection.length / bank.dim };
}
