/**
 * What inspections of an online bank lease as one unit: the good bank's PatchCore scorer and the
 * nearest search of the defect bank built for it (or none). One lease gives both, so an
 * inspection sees the pair before a change or the pair after it, never a good bank with a
 * defect search made for another (their distances must be measured in the same search space).
 *
 * Scoring with a defect bank is defect-bank.ts's defect-aware PatchCore, with d_good and d_defect
 * the distances of a patch to the nearest good and the nearest confirmed-defect row:
 *   e_p = max(0, d_good - d_defect),  s_p = d_good + weight * e_p,  S = S_good + weight * max_p e_p.
 * A patch closer to good than to every known defect (good parts, and defect types never
 * confirmed) has e_p = 0 and keeps its PatchCore score exactly.
 *
 * Confirmed defects with a region (boxes or a mask) teach the patch head instead (region-head.ts),
 * whose evidence h_p = max(0, logit_p) is added the same way, with the same weight:
 *   s_p = d_good + weight * (e_p + h_p),  S = S_good + weight * max_p (e_p + h_p).
 * The pair above is then a triple (good scorer, defect search, head), leased as one unit too.
 *
 * The learned good parts' appearance (appearance.ts), where the fit learned one, adds its term to
 * the good bank's image score (and so to S): S_good = S_patch + appearance term.
 *
 * The good scorer is reference-counted: a confirmed defect installs a new pair that shares the
 * good scorer of the pair before it, so the (large) good search is not rebuilt for it, and it is
 * released only when no installed or leased pair holds it.
 */
import { DefectBankSearch, defectAwareImageScore, defectAwarePatchScores, defectEvidence } from "../../anomaly/patchcore/defect-bank";
import type { MemoryBank, PatchCoreScorer, PatchScores } from "../../anomaly/patchcore/patchcore";
import type { HeadScorer } from "../../anomaly/patchcore/region-head";
import type { PatchExtractor } from "../../features/extractor";
import type { PatchEmbedding } from "../../features/types";
import type { Tensor } from "../../image/types";
import type { ScoreMap } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import type { Releasable } from "../storage/model-slot";
import { appearanceTerm, meanFeatures, type Appearance } from "../../anomaly/patchcore/appearance";
import { lookalikeTerm } from "../../anomaly/patchcore/lookalikes";
import type { KeptImage } from "./kept-calibration";

/** The appearance model a pair scores with, and its weight (appearance.ts). */
export interface WeightedAppearance {
  model: Appearance;
  weight: number;
}

/** Largest weight of the defect evidence: the top of defect-bank.ts's DEFAULT_LAMBDAS. */
export const MAX_DEFECT_WEIGHT = 64;
/**
 * Evidence counted once, at the size of the PatchCore distance it is measured against. The eval
 * chooses its lambda leave-one-out among labelled parts; on the line there are too few confirmed
 * defects to choose, so the neutral weight, which the node's defectWeight option changes.
 */
export const DEFAULT_DEFECT_WEIGHT = 1;

/** A releasable held by several owners; the last `drop` releases it. */
export class Shared<T extends Releasable> {
  private refs = 1;

  constructor(readonly value: T) {}

  retain(): this {
    this.refs += 1;
    return this;
  }

  drop(): Promise<void> {
    this.refs -= 1;
    return this.refs === 0 ? this.value.release() : Promise.resolve();
  }
}

export interface OnlineScores extends PatchScores {
  /** Full-resolution map of the (defect-aware) patch scores. */
  map: ScoreMap;
  /** Time spent making `map` (upsampling and blur), a part of the scoring time. */
  mapMs: number;
  /** PatchCore against the good bank alone: what drift and a defect's patch choice use. */
  goodScore: number;
  goodGrid: ScoreMap;
  /** max_p e_p; undefined when no defect bank is used. */
  defectEvidence: number | undefined;
  /** max_p h_p of the patch head; undefined when no head is used. */
  headEvidence: number | undefined;
  /** What the part's appearance added to the image score; undefined when no appearance term is used. */
  appearance?: number;
  /** What the part's look-alikes added (lookalikes.ts, below 0 for a kind that scores high); undefined without them. */
  lookalikes?: number;
}

/** An image scored from its tensor, with the time of each stage. */
export interface TensorInspection {
  scores: OnlineScores;
  /** The patch features: always by the step-by-step path, else only when asked for. */
  embedding: PatchEmbedding | undefined;
  backboneMs: number;
  /** Search and re-weighting, without the map. */
  scoringMs: number;
}

function largest(values: Float32Array): number {
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return max;
}

export class BankScorers implements Releasable {
  constructor(
    readonly good: Shared<PatchCoreScorer>,
    /** null: no defect rows, or weight 0 (the defect bank is kept but not used for scoring). */
    readonly defect: DefectBankSearch | null,
    private readonly weight: number,
    /** null: no head fitted, or weight 0 (kept and saved, not used for scoring). Shared with the triple before it. */
    readonly head: Shared<HeadScorer> | null = null,
    /** null: no appearance model learned, or weight 0. */
    readonly appearance: WeightedAppearance | null = null,
  ) {}

  /** The scores with the appearance term of the part whose mean features are `vector` added. */
  private withAppearance(scores: OnlineScores, vector: () => Float32Array): OnlineScores {
    if (this.appearance === null) return scores;
    const { model, weight } = this.appearance;
    const mean = vector();
    const appearance = appearanceTerm(model, weight, mean);
    const lookalikes = model.lookalikes === undefined ? undefined : lookalikeTerm(model.lookalikes, model.vectors, model.dim, mean);
    const term = appearance + (lookalikes ?? 0);
    return {
      ...scores,
      score: scores.score + term,
      goodScore: scores.goodScore + term,
      ...(weight > 0 ? { appearance } : {}),
      ...(lookalikes === undefined ? {} : { lookalikes }),
    };
  }

  /** Whether scoring needs the patch features beside the good bank's distances. */
  get needsFeatures(): boolean {
    return this.defect !== null || this.head !== null;
  }

  async score(embedding: PatchEmbedding, width: number, height: number): Promise<OnlineScores> {
    const scores = await this.combine(await this.good.value.scorePatches(embedding), embedding, width, height, undefined);
    return this.withAppearance(scores, () => meanFeatures(embedding));
  }

  /**
   * The scores from the good bank's patch scores (`plain`, with its map when already made) and,
   * with a defect search, the defect evidence of `embedding`'s patches.
   */
  private async combine(
    plain: PatchScores,
    embedding: PatchEmbedding | undefined,
    width: number,
    height: number,
    plainMap: ScoreMap | undefined,
  ): Promise<OnlineScores> {
    const good = this.good.value;
    if (!this.needsFeatures) {
      const t0 = performance.now();
      const map = plainMap ?? good.anomalyMap(plain.grid, width, height);
      const mapMs = performance.now() - t0;
      const score = good.imageScoreOf(plain.score, map);
      return { score, grid: plain.grid, map, mapMs, goodScore: score, goodGrid: plain.grid, defectEvidence: undefined, headEvidence: undefined };
    }
    if (embedding === undefined) throw new Error("scoring against confirmed defects needs the patch features");
    // The good bank's own map is made only when the image score is its peak.
    const goodScore = good.imageScoreOf(plain.score, () => plainMap ?? good.anomalyMap(plain.grid, width, height));
    const { evidence, bankEvidence, headEvidence } = await this.evidence(embedding, plain.grid.data);
    const grid: ScoreMap = { ...plain.grid, data: defectAwarePatchScores(plain.grid.data, evidence, this.weight) };
    const t0 = performance.now();
    const map = good.anomalyMap(grid, width, height);
    return {
      score: defectAwareImageScore(goodScore, evidence, this.weight),
      grid,
      map,
      mapMs: performance.now() - t0,
      goodScore,
      goodGrid: plain.grid,
      defectEvidence: bankEvidence === undefined ? undefined : largest(bankEvidence),
      headEvidence: headEvidence === undefined ? undefined : largest(headEvidence),
    };
  }

  /** The confirmed defects' evidence for each patch, given the patches' distances to the good bank. */
  private async evidence(
    embedding: PatchEmbedding,
    goodDistances: Float32Array,
  ): Promise<{ evidence: Float32Array; bankEvidence: Float32Array | undefined; headEvidence: Float32Array | undefined }> {
    const [bankEvidence, headEvidence] = await Promise.all([
      this.defect === null ? undefined : this.defect.distances(embedding).then((d) => defectEvidence(goodDistances, d)),
      this.head === null ? undefined : this.head.value.evidence(embedding),
    ]);
    // One term: exactly the defect-aware scores of defect-bank.ts. Both: their sum, weighted once.
    let evidence = bankEvidence ?? headEvidence;
    if (bankEvidence !== undefined && headEvidence !== undefined) evidence = bankEvidence.map((e, p) => e + (headEvidence[p] as number));
    if (evidence === undefined) throw new Error("unreachable: scoring needs features only with a defect bank or a head");
    return { evidence, bankEvidence, headEvidence };
  }

  /**
   * A learned image's score as an inspection by this pair would give it had the image not been
   * learned: `image.score` and `image.grid` are its image score and patch distances against the
   * bank without its own rows (kept-calibration.ts), the confirmed defects' evidence of
   * `embedding` (its features) is added as for an inspection.
   */
  async leftOutScore(embedding: PatchEmbedding, image: Pick<KeptImage, "score" | "grid">): Promise<number> {
    if (!this.needsFeatures) return image.score;
    const { evidence } = await this.evidence(embedding, image.grid);
    return defectAwareImageScore(image.score, evidence, this.weight);
  }

  /**
   * Scores an image from its tensor. With a backbone the good scorer can chain to, backbone and
   * scoring run as one job on the backbone's worker, and the features come back only when asked
   * for or needed for the defect search: every inspection of the good bank is then the same
   * computation, with or without confirmed defects, before or after a restart. Otherwise
   * (standardised features) the extractor embeds and score() scores.
   */
  async inspect(extractor: PatchExtractor, tensor: Tensor, width: number, height: number, withEmbedding: boolean): Promise<TensorInspection> {
    const good = this.good.value;
    const backbone = extractor.fusable?.();
    if (good.canScoreTensor(backbone)) {
      const run = await good.scoreTensor(backbone, tensor, withEmbedding || this.needsFeatures, { width, height });
      const t0 = performance.now();
      const scores = this.withAppearance(await this.combine(run, run.embedding, width, height, run.map), () => run.meanFeatures);
      return { scores, embedding: run.embedding, backboneMs: run.backboneMs, scoringMs: run.scoringMs + (performance.now() - t0) - scores.mapMs };
    }
    const t0 = performance.now();
    const embedding = await extractor.embed(tensor);
    const t1 = performance.now();
    const scores = await this.score(embedding, width, height);
    return { scores, embedding, backboneMs: t1 - t0, scoringMs: performance.now() - t1 - scores.mapMs };
  }

  /** Readies inspect's fused graph for images of this size (PatchCoreScorer.prepareTensorScoring). */
  async prepare(extractor: PatchExtractor, width: number, height: number): Promise<void> {
    const backbone = extractor.fusable?.();
    if (backbone !== undefined) await this.good.value.prepareTensorScoring(backbone, this.needsFeatures, { width, height });
  }

  async release(): Promise<void> {
    await Promise.all([this.good.drop(), this.defect?.release(), this.head?.drop()]);
  }
}

/**
 * The nearest search over the confirmed-defect rows (one chunk per confirmed part), in the
 * search space of `bank` (its projection when it searches approximately); null when there is
 * nothing to search or the weight is 0.
 */
export async function openDefectSearch(
  chunks: readonly Float32Array[],
  bank: MemoryBank,
  weight: number,
  session: SessionOptions,
): Promise<DefectBankSearch | null> {
  const { dim } = bank;
  const size = chunks.reduce((sum, c) => sum + c.length, 0) / dim;
  if (weight === 0 || size === 0) return null;
  const data = new Float32Array(size * dim);
  const sources = new Int32Array(size);
  let row = 0;
  chunks.forEach((chunk, part) => {
    data.set(chunk, row * dim);
    sources.fill(part, row, row + chunk.length / dim);
    row += chunk.length / dim;
  });
  const projection = bank.projection === null ? undefined : { matrix: bank.projection, outDim: bank.projection.length / dim };
  return DefectBankSearch.open({ data, size, dim, sources }, session, projection);
}
