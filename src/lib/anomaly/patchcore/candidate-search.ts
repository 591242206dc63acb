/**
 * Nearest bank rows in the projected search space, ranked in two passes inside one ONNX graph:
 * every bank row is ranked by an 8-bit integer product (onnxruntime's MatMulIntegerToFloat, about
 * three times the speed of the float Gemm on CPUs with integer dot-product instructions), and the
 * few best candidates of each query are ranked again by their exact float distance. The answer is
 * the exact search's unless the true nearest row ranked below `k + CANDIDATE_MARGIN` in the
 * integer pass; test/lib/candidate-search_spec.ts measures how rarely that happens.
 *
 * Queries are quantised with one scale fixed by the bank's values (not per call), so a query
 * row's answer does not depend on the other rows searched with it: the fused scoring graph and
 * the standalone search give the same rows.
 */
import { GraphBuilder, Value } from "../../onnx/graph-builder";

/**
 * Candidates beyond the k asked for. Judged on 40 held-back training images each (never learned;
 * experiments/candidate-recall.mjs, ResNet-50 layer2+3, 10,240-row bank): with 8 candidates for the
 * nearest row, the exact row was missed for 1 patch in 40,960 on magnetic_tile (an image's
 * largest distance off by at most 5e-6 of itself) and 21 on casting (at most 1.4e-5); with 4,
 * for 26 and 72 patches (up to 0.7 % on an image's largest distance). The 8 rows' exact
 * distances cost ~1 ms an image.
 */
export const CANDIDATE_MARGIN = 7;

/** The bank quantised for the integer ranking, and as it is for the exact one. */
export interface QuantisedBank {
  size: number;
  dim: number;
  /** [dim, size]: each row negated and scaled to int8 by its own scale. */
  weights: Int8Array;
  /** [size]: twice each row's scale, so the product is -2 q·b. */
  rowScales: Float32Array;
  /** [size]: |b|², the bias that completes the ranking |b|² - 2 q·b. */
  norms: Float32Array;
  /** The queries' quantisation step: the bank's largest magnitude over 127. */
  queryScale: number;
  /** [size, dim] row-major: the bank as given, for the exact distances. */
  rows: Float32Array;
}

const INT8_MAX = 127;
/** Queries go to uint8 around this zero point: -128..127 steps of queryScale. */
const QUERY_ZERO = 128;

export function quantiseBank(rows: Float32Array, size: number, dim: number): QuantisedBank {
  if (rows.length !== size * dim || size < 1) throw new RangeError(`bank holds ${rows.length} values, expected ${size} x ${dim}`);
  const weights = new Int8Array(dim * size);
  const rowScales = new Float32Array(size);
  const norms = new Float32Array(size);
  let largest = 0;
  for (let r = 0; r < size; r++) {
    let max = 0;
    let norm = 0;
    for (let c = 0; c < dim; c++) {
      const v = rows[r * dim + c] as number;
      max = Math.max(max, Math.abs(v));
      norm += v * v;
    }
    norms[r] = norm;
    largest = Math.max(largest, max);
    // A zero row keeps scale 0: its integer product is 0 and its rank is its norm, 0.
    const step = max / INT8_MAX;
    rowScales[r] = 2 * step;
    if (step > 0) for (let c = 0; c < dim; c++) weights[c * size + r] = Math.round(-(rows[r * dim + c] as number) / step);
  }
  return { size, dim, weights, rowScales, norms, queryScale: largest > 0 ? largest / INT8_MAX : 1, rows };
}

/** The graph's constants for one bank: added once, searched by any number of `addNearestRows`. */
export interface BankConstants {
  readonly bank: QuantisedBank;
  readonly weights: Value;
  readonly rowScales: Value;
  readonly norms: Value;
  readonly queryScale: Value;
  readonly queryZero: Value;
  readonly rows: Value;
}

export function addBankConstants(g: GraphBuilder, bank: QuantisedBank, prefix = "bank"): BankConstants {
  return {
    bank,
    weights: g.constant(`${prefix}Int8`, bank.weights, [bank.dim, bank.size]),
    rowScales: g.constant(`${prefix}RowScales`, bank.rowScales, [bank.size]),
    norms: g.constant(`${prefix}Norms`, bank.norms, [bank.size]),
    queryScale: g.constantFloat(`${prefix}QueryScale`, [bank.queryScale], []),
    queryZero: g.constant(`${prefix}QueryZero`, Uint8Array.from([QUERY_ZERO]), []),
    rows: g.constant(`${prefix}Rows`, bank.rows, [bank.size, bank.dim]),
  };
}

export interface NearestRows {
  /** [n, k] squared distances, nearest first. */
  squared: Value;
  /** [n, k] int64 bank rows. */
  indices: Value;
}

/**
 * The `k` nearest bank rows of each row of `queries` ([n, dim] float). `k` is a number, or an
 * int64 [1] value (the standalone search's input) no larger than the bank. `id` names this
 * search's constants apart from another's in the same graph; `margin` is there to measure others.
 */
export function addNearestRows(g: GraphBuilder, queries: Value, bank: BankConstants, k: number | Value, id: string, margin = CANDIDATE_MARGIN): NearestRows {
  const size = bank.bank.size;
  let kValue: Value;
  let candidates: Value;
  if (typeof k === "number") {
    const kk = Math.max(1, Math.min(k, size));
    kValue = g.constantInt64(`${id}K`, [kk]);
    candidates = g.constantInt64(`${id}Candidates`, [Math.min(kk + margin, size)]);
  } else {
    kValue = k;
    candidates = g.op("Min", [g.op("Add", [k, g.constantInt64(`${id}Margin`, [margin])]), g.constantInt64(`${id}Size`, [size])]);
  }
  const quantised = g.op("QuantizeLinear", [queries, bank.queryScale, bank.queryZero]);
  // |b|² - 2 q·b: ranks the bank as the distance does (|q|² is the same for every row).
  const ranking = g.op(
    "MatMulIntegerToFloat",
    [quantised, bank.weights, bank.queryScale, bank.rowScales, bank.queryZero, null, bank.norms],
    {},
    { domain: "com.microsoft" },
  );
  const [, rough] = g.opMulti("TopK", [ranking, candidates], 2, { axis: 1, largest: 0, sorted: 1 }) as [Value, Value];
  // Exact distances to the candidates: [n, c, dim] rows less the query, squared and summed.
  const picked = g.op("Gather", [bank.rows, rough], { axis: 0 });
  const diff = g.op("Sub", [picked, g.op("Unsqueeze", [queries, g.constantInt64(`${id}Axis1`, [1])])]);
  const squared = g.op("ReduceSum", [g.op("Mul", [diff, diff]), g.constantInt64(`${id}Axis2`, [2])], { keepdims: 0 });
  const [best, order] = g.opMulti("TopK", [squared, kValue], 2, { axis: 1, largest: 0, sorted: 1 }) as [Value, Value];
  return { squared: best, indices: g.op("GatherElements", [rough, order], { axis: 1 }) };
}
