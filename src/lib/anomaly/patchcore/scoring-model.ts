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
import { attr, GraphBuilder, Value } from "../../onnx/graph-builder";
import { addPooledLayers, resizeToGrid, type LayerShape, type PooledLayers, type PoolWindows } from "../../features/patch-head";
import { resampleMatrix } from "../map-ops";
import { addBankConstants, addNearestRows, quantiseBank } from "./candidate-search";
import { searchConstants, type SearchProjection } from "./nearest-model";

/**
 * Patches ranked per Gemm + TopK. The standalone search (nearest.ts) gains from blocks of 128 that
 * stay in cache; inside this graph, one block of a 256 px image's 1024 patches measured faster
 * (scoring 30 -> 24 ms with the ResNet-50 shapes and a 10,240-row bank, the same machine, runs
 * interleaved), so larger images are split only above that, keeping the [rows, bank] ranking at
 * about 40 MB.
 */
const SCORING_BLOCK = 1024;

export interface ScoringModelSpec {
  layers: readonly LayerShape[];
  /** The patch head's average-pooling windows (one for all layers, or one a layer). */
  pool: PoolWindows;
  /** The bank in its search space, row-major [size, searchDim] (nearest.ts searchSpaceBank). */
  searchBank: Float32Array;
  size: number;
  projection?: SearchProjection;
  /** Neighbours of the worst patch's nearest row, for the re-weighting (1: none). */
  neighbours: number;
  /** Also output all patch features (for parts remembered by id): a copy of 6 MB an image otherwise not made. */
  embedding: boolean;
  /** Also output the anomaly map at this size (upsampled and blurred, as map-ops.ts upsampleNearestBlurred). */
  map?: { width: number; height: number; sigma: number };
  /** Each patch's place weight (place-weights.ts): the distances are weighted before anything reads them. */
  places?: Float32Array;
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
  /** [patches, dim]: all patch features (ScoringModelSpec.embedding). */
  embedding: "embedding",
  /** [height, width]: the anomaly map (ScoringModelSpec.map). */
  map: "map",
  /** [1, dim]: the mean of the patch features, the part's appearance (appearance.ts). */
  meanFeatures: "meanFeatures",
} as const;

function splitSizes(count: number, block: number): number[] {
  const sizes: number[] = [];
  for (let first = 0; first < count; first += block) sizes.push(Math.min(block, count - first));
  return sizes;
}

/** Top-k smallest along axis 1: [values, indices]. */
function smallest(g: GraphBuilder, x: Value, k: Value, names?: [string, string]): [Value, Value] {
  return g.opMulti("TopK", [x, k], 2, { axis: 1, largest: 0, sorted: 1 }, names === undefined ? {} : { outputNames: names }) as [Value, Value];
}

/** Values that are graph outputs are named as the outputs: another name adds an Identity node, a copy on every run. */
function named(name: string): { outputNames: string[] } {
  return { outputNames: [name] };
}

/**
 * The bank as the graph searches it. An exact search: each layer's [channels, patches] features
 * meet their own rows of the bank, read transposed by Gemm, and the layers' products are summed,
 * so nothing of 6 MB is concatenated or transposed. A projected search: each layer's pooled map
 * is projected before it is resized to the finest grid (both are linear, so the order changes
 * only rounding, and a 16x16 layer is projected at a quarter of the patches), and the projected
 * patches go to candidate-search.ts. The features output, when asked for, is a side branch, so
 * the scores are the same bits with it or without it.
 */
interface BankGraph {
  /** Each block of patches' squared distances [n, 1] to its nearest row, and that row [n, 1]. */
  nearestByBlock(head: PooledLayers, sizes: readonly number[]): Array<{ squared: Value; indices: Value }>;
  /** The `k` bank rows nearest to the bank's own row `row` ([1] int64), itself first: [1, k] int64. */
  support(row: Value, k: number): Value;
}

function exactBankGraph(g: GraphBuilder, spec: ScoringModelSpec, dim: number): BankGraph {
  const { transposed, norms } = searchConstants(spec.searchBank, spec.size, dim);
  const bankNorm = g.constant("bankNorm", norms, [1, spec.size]);
  const axis0 = g.constantInt64("axis0", [0]);
  const minusTwo = { alpha: attr.float(-2), beta: attr.float(1) };
  let offset = 0;
  const factors = spec.layers.map((layer, i) => {
    const rows = transposed.subarray(offset * spec.size, (offset + layer.channels) * spec.size);
    offset += layer.channels;
    return g.constant(`bankT${i}`, rows, [layer.channels, spec.size]);
  });
  // -2 q·b + |b|², accumulated layer by layer.
  const one = g.constantInt64("nearestOne", [1]);
  const rank = (parts: readonly Value[]): Value =>
    parts.reduce<Value>((ranking, part, i) => g.op("Gemm", [part, factors[i] as Value, ranking], { ...minusTwo, transA: 1 }), bankNorm);
  return {
    nearestByBlock(head, sizes) {
      const partBlocks = head.parts.map((part, i) =>
        sizes.length > 1 ? g.opMulti("Split", [part, g.constantInt64(`blocks${i}`, sizes)], sizes.length, { axis: 1 }) : [part],
      );
      return sizes.map((_, b) => {
        const parts = partBlocks.map((blocks) => blocks[b] as Value);
        const [value, indices] = smallest(g, rank(parts), one);
        const queryNorms = g.op(
          "Transpose",
          [parts.map((part) => g.op("ReduceSum", [g.op("Mul", [part, part]), axis0], { keepdims: 1 })).reduce((x, y) => g.op("Add", [x, y]))],
          { perm: [1, 0] },
        );
        return { squared: g.op("Add", [value, queryNorms]), indices };
      });
    },
    support: (row, k) =>
      smallest(g, rank(factors.map((factor) => g.op("Gather", [factor, row], { axis: 1 }))), g.constantInt64("k", [k]), [
        "supportRanks",
        SCORING_OUTPUTS.support,
      ])[1],
  };
}

function projectedBankGraph(g: GraphBuilder, spec: ScoringModelSpec, projection: SearchProjection): BankGraph {
  const { matrix, outDim } = projection;
  const first = spec.layers[0] as LayerShape;
  let offset = 0;
  const projections = spec.layers.map((layer, i) => {
    const rows = matrix.subarray(offset * outDim, (offset + layer.channels) * outDim);
    offset += layer.channels;
    return g.constant(`projection${i}`, rows, [layer.channels, outDim]);
  });
  const bank = addBankConstants(g, quantiseBank(spec.searchBank, spec.size, outDim));
  return {
    nearestByBlock(head, sizes) {
      // [outDim, patches]: each layer projected at its own grid, then resized to the finest.
      const projected = spec.layers.map((layer, i) => {
        const flat = g.op("Reshape", [head.pooled[i] as Value, g.constantInt64(`pooledFlat${i}`, [layer.channels, layer.height * layer.width])]);
        const p = g.op("Gemm", [projections[i] as Value, flat], { transA: 1 });
        if (layer.height === first.height && layer.width === first.width) return p;
        const map = g.op("Reshape", [p, g.constantInt64(`projectedMap${i}`, [1, outDim, layer.height, layer.width])]);
        return g.op("Reshape", [resizeToGrid(g, map, outDim, first, `projectedSize${i}`), g.constantInt64(`projectedFlat${i}`, [outDim, head.patches])]);
      });
      const q = g.op("Transpose", [projected.reduce((x, y) => g.op("Add", [x, y]))], { perm: [1, 0] });
      const blocks = sizes.length > 1 ? g.opMulti("Split", [q, g.constantInt64("blocks", sizes)], sizes.length, { axis: 0 }) : [q];
      return blocks.map((block, b) => addNearestRows(g, block, bank, 1, `patches${b}`));
    },
    // The bank row is in the search space already: its row of the bank.
    support: (row, k) =>
      g.op("Identity", [addNearestRows(g, g.op("Gather", [bank.rows, row], { axis: 0 }), bank, k, "support").indices], {}, named(SCORING_OUTPUTS.support)),
  };
}

function bankGraph(g: GraphBuilder, spec: ScoringModelSpec): BankGraph {
  const dim = spec.layers.reduce((sum, l) => sum + l.channels, 0);
  const searchDim = spec.projection?.outDim ?? dim;
  if (spec.searchBank.length !== spec.size * searchDim)
    throw new RangeError(`search bank holds ${spec.searchBank.length} values, expected ${spec.size} x ${searchDim}`);
  return spec.projection === undefined ? exactBankGraph(g, spec, dim) : projectedBankGraph(g, spec, spec.projection);
}

export function buildScoringModel(spec: ScoringModelSpec): Uint8Array {
  const g = new GraphBuilder({ name: "patchcore-scoring" });
  const head = addPooledLayers(g, spec.layers, spec.pool);
  const bank = bankGraph(g, spec);
  const one = g.constantInt64("one", [1]);
  const concat = (list: Value[]): Value => (list.length > 1 ? g.op("Concat", list, { axis: 0 }) : (list[0] as Value));
  const found = bank.nearestByBlock(head, splitSizes(head.patches, SCORING_BLOCK));
  const squared = found.map((f) => f.squared);
  const nearest = found.map((f) => f.indices);
  const clamped = g.op("Max", [concat(squared), g.constantFloat("zero", [0], [])]);
  const distances =
    spec.places === undefined
      ? g.op("Sqrt", [clamped], {}, named(SCORING_OUTPUTS.distances))
      : g.op("Mul", [g.op("Sqrt", [clamped]), placeWeights(g, spec.places, head.patches)], {}, named(SCORING_OUTPUTS.distances));
  g.output(distances, SCORING_OUTPUTS.distances, "float32", [head.patches, 1]);

  const worst = g.op("ArgMax", [distances], { axis: 0, keepdims: 1 }, named(SCORING_OUTPUTS.worst));
  g.output(worst, SCORING_OUTPUTS.worst, "int64", [1, 1]);
  const worstIndex = g.op("Reshape", [worst, one]);
  // The worst patch's features: its column of each layer, stacked.
  const columns = concat(head.parts.map((part) => g.op("Gather", [part, worstIndex], { axis: 1 })));
  g.output(g.op("Reshape", [columns, g.constantInt64("row", [1, head.dim])], {}, named(SCORING_OUTPUTS.worstRow)), SCORING_OUTPUTS.worstRow, "float32", [
    1,
    head.dim,
  ]);
  // The bank rows nearest to the worst patch's nearest row (itself first).
  const k = Math.max(1, Math.min(spec.neighbours, spec.size));
  const nearestRow = g.op("Reshape", [g.op("GatherElements", [concat(nearest), worst], { axis: 0 }), one]);
  const support = bank.support(nearestRow, k);
  g.output(support, SCORING_OUTPUTS.support, "int64", [1, k]);
  // The part's appearance: 1,536 values, where the features themselves are 6 MB.
  const means = concat(head.parts.map((part) => g.op("ReduceMean", [part], { axes: [1], keepdims: 0 })));
  g.output(
    g.op("Reshape", [means, g.constantInt64("meanRow", [1, head.dim])], {}, named(SCORING_OUTPUTS.meanFeatures)),
    SCORING_OUTPUTS.meanFeatures,
    "float32",
    [1, head.dim],
  );
  if (spec.embedding) {
    g.output(g.op("Transpose", [concat(head.parts)], { perm: [1, 0] }, named(SCORING_OUTPUTS.embedding)), SCORING_OUTPUTS.embedding, "float32", [
      head.patches,
      head.dim,
    ]);
  }
  if (spec.map !== undefined) {
    const first = spec.layers[0] as LayerShape;
    const { width, height, sigma } = spec.map;
    const grid = g.op("Reshape", [distances, g.constantInt64("grid", [first.height, first.width])]);
    const rows = g.constant("mapRows", resampleMatrix(height, first.height, sigma), [height, first.height]);
    const mapColumns = transpose(resampleMatrix(width, first.width, sigma), width, first.width);
    const across = g.op("MatMul", [rows, grid]);
    g.output(
      g.op("MatMul", [across, g.constant("mapColumns", mapColumns, [first.width, width])], {}, named(SCORING_OUTPUTS.map)),
      SCORING_OUTPUTS.map,
      "float32",
      [height, width],
    );
  }
  return g.build();
}

function placeWeights(g: GraphBuilder, places: Float32Array, patches: number): Value {
  if (places.length !== patches) throw new RangeError(`${places.length} place weights for ${patches} patches`);
  return g.constant("placeWeights", places, [patches, 1]);
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c] as number;
  return t;
}
