/**
 * PatchCore's whole scoring of one image as one ONNX graph, run right after the backbone on the
 * backbone's worker (onnx runChain): the patch head, the nearest-row search of every patch
 * (in blocks, as nearest.ts), and what the re-weighting of the image score needs: the worst
 * patch, its features and the neighbours of its nearest bank row. Only those few values reach
 * the main thread, not the image's feature maps (3 MB) or patch features (6 MB), whose churn
 * set off a full garbage collection on Node-RED's thread for every image.
 *
 * Every value equals what the step-by-step path computes (extractor, nearest search, re-weight):
 * test/lib/patchcore-fused_spec.ts compares the two.
 */
import { attr, GraphBuilder, type Value } from "../../onnx/graph-builder";
import { addPatchHead, type LayerShape } from "../../features/patch-head";
import { QUERY_BLOCK, searchConstants, type SearchProjection } from "./nearest";

export interface ScoringModelSpec {
  layers: readonly LayerShape[];
  /** The patch head's average-pooling size. */
  pool: number;
  /** The bank in its search space, row-major [size, searchDim] (nearest.ts searchSpaceBank). */
  searchBank: Float32Array;
  size: number;
  projection?: SearchProjection;
  /** Neighbours of the worst patch's nearest row, for the re-weighting (1: none). */
  neighbours: number;
}

/** The graph's outputs. */
export const SCORING_OUTPUTS = {
  /** [patches, 1] distance of each patch to its nearest bank row. */
  distances: "distances",
  /** [1, 1] int64: the patch with the largest distance (the first of equals). */
  worst: "worstPatch",
  /** [1, dim]: that patch's features. */
  worstRow: "worstRow",
  /** [1, k] int64: bank rows nearest to the worst patch's nearest row, itself first. */
  support: "support",
  /** [patches, dim]: all patch features, asked for only when a part is remembered. */
  embedding: "embedding",
} as const;

function splitSizes(count: number, block: number): number[] {
  const sizes: number[] = [];
  for (let first = 0; first < count; first += block) sizes.push(Math.min(block, count - first));
  return sizes;
}

/** Top-k smallest along axis 1: [values, indices]. */
function smallest(g: GraphBuilder, x: Value, k: Value): [Value, Value] {
  return g.opMulti("TopK", [x, k], 2, { axis: 1, largest: 0, sorted: 1 }) as [Value, Value];
}

export function buildScoringModel(spec: ScoringModelSpec): Uint8Array {
  const g = new GraphBuilder({ name: "patchcore-scoring" });
  // Values that are graph outputs are named as the outputs: another name would add an Identity
  // node, which copies (6 MB for the features) on every run even when the output is not asked for.
  const named = (name: string): { outputNames: string[] } => ({ outputNames: [name] });
  const head = addPatchHead(g, spec.layers, spec.pool, SCORING_OUTPUTS.embedding);
  const searchDim = spec.projection?.outDim ?? head.dim;
  if (spec.searchBank.length !== spec.size * searchDim) throw new RangeError(`search bank holds ${spec.searchBank.length} values, expected ${spec.size} x ${searchDim}`);
  const q = spec.projection === undefined ? head.embedding : g.op("MatMul", [head.embedding, g.constant("projection", spec.projection.matrix, [head.dim, searchDim])]);
  const { transposed, norms } = searchConstants(spec.searchBank, spec.size, searchDim);
  const bankT = g.constant("bankT", transposed, [searchDim, spec.size]);
  const bankNorm = g.constant("bankNorm", norms, [1, spec.size]);
  // |b|² - 2 q·b ranks the rows as the distance does; |q|² is added after TopK (as nearest.ts).
  const ranking = (rows: Value): Value => g.op("Gemm", [rows, bankT, bankNorm], { alpha: attr.float(-2), beta: attr.float(1) });
  const one = g.constantInt64("one", [1]);
  const sizes = splitSizes(head.patches, QUERY_BLOCK);
  const blocks = sizes.length > 1 ? g.opMulti("Split", [q, g.constantInt64("blocks", sizes)], sizes.length, { axis: 0 }) : [q];
  const found = blocks.map((block) => smallest(g, ranking(block), one));
  const concat = (values: Value[]): Value => (values.length > 1 ? g.op("Concat", values, { axis: 0 }) : (values[0] as Value));
  const values = concat(found.map((f) => f[0]));
  const nearest = concat(found.map((f) => f[1]));
  const qNorm = g.op("ReduceSum", [g.op("Mul", [q, q]), one], { keepdims: 1 });
  const distances = g.op("Sqrt", [g.op("Max", [g.op("Add", [values, qNorm]), g.constantFloat("zero", [0], [])])], {}, named(SCORING_OUTPUTS.distances));
  g.output(distances, SCORING_OUTPUTS.distances, "float32", [head.patches, 1]);

  const worst = g.op("ArgMax", [distances], { axis: 0, keepdims: 1 }, named(SCORING_OUTPUTS.worst));
  g.output(worst, SCORING_OUTPUTS.worst, "int64", [1, 1]);
  const worstIndex = g.op("Reshape", [worst, one]);
  g.output(g.op("Gather", [head.embedding, worstIndex], { axis: 0 }, named(SCORING_OUTPUTS.worstRow)), SCORING_OUTPUTS.worstRow, "float32", [1, head.dim]);
  const k = Math.max(1, Math.min(spec.neighbours, spec.size));
  // The worst patch's nearest row, as a query in the search space: its column of bankT.
  const nearestRow = g.op("Reshape", [g.op("GatherElements", [nearest, worst], { axis: 0 }), one]);
  const rowQuery = g.op("Transpose", [g.op("Gather", [bankT, nearestRow], { axis: 1 })], { perm: [1, 0] });
  const support = g.opMulti("TopK", [ranking(rowQuery), g.constantInt64("k", [k])], 2, { axis: 1, largest: 0, sorted: 1 }, { outputNames: ["supportRanks", SCORING_OUTPUTS.support] })[1] as Value;
  g.output(support, SCORING_OUTPUTS.support, "int64", [1, k]);
  g.output(head.embedding, SCORING_OUTPUTS.embedding, "float32", [head.patches, head.dim]);
  return g.build();
}
