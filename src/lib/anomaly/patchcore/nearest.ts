/**
 * Nearest-neighbour search against a memory bank, as one onnxruntime graph so the distance
 * computation is a single matrix product (BLAS-speed) instead of scalar loops:
 *   d²(q, b) = |q|² - 2 q·b + |b|²   with |b|² precomputed once.
 * Exact over all the features; in a projected subspace, ranked in 8-bit integers first and the
 * best candidates by their exact distances (candidate-search.ts).
 */
import * as ort from "onnxruntime-node";
import type { ModelHandle, SessionOptions } from "../../onnx";
import { matmul } from "../../linalg/matmul";
import { acquireBankGraph } from "./bank-graphs";
import type { SearchProjection } from "./nearest-model";

export type { SearchProjection } from "./nearest-model";

export interface Neighbours {
  /** Euclidean distances, `k` per query, nearest first. */
  distances: Float32Array;
  /** Bank row of each distance. */
  indices: Int32Array;
  k: number;
}

export interface NearestSearch {
  readonly bankSize: number;
  readonly dim: number;
  /** `queries` is row-major [count, dim]. */
  search(queries: Float32Array, count: number, k: number): Promise<Neighbours>;
  release(): Promise<void>;
}

let searchCounter = 0;
/**
 * Query rows per block: each block's [rows, size] product stays small enough to be in cache
 * between the Gemm that writes it and the TopK that reads it (measured ~2x faster than one pass
 * over all 1024 patches of an image; rows are independent, so the results are the same).
 */
const QUERY_BLOCK = 128;

/** The bank in the search's space: itself for an exact search, else its rows projected. */
export async function searchSpaceBank(
  bank: Float32Array,
  size: number,
  dim: number,
  projection?: SearchProjection,
  session?: SessionOptions,
): Promise<Float32Array> {
  if (bank.length !== size * dim || size < 1) throw new RangeError(`bank holds ${bank.length} values, expected ${size} x ${dim}`);
  return projection === undefined ? bank : matmul(bank, projection.matrix, size, dim, projection.outDim, { session });
}

export async function openNearestSearch(
  bank: Float32Array,
  size: number,
  dim: number,
  session?: SessionOptions,
  projection?: SearchProjection,
): Promise<NearestSearch> {
  return openSearchOver(await searchSpaceBank(bank, size, dim, projection, session), size, dim, projection, session);
}

/** A search over a bank already in its search space (searchSpaceBank); queries have `dim` values. */
export async function openSearchOver(
  searchBank: Float32Array,
  size: number,
  dim: number,
  projection?: SearchProjection,
  session?: SessionOptions,
): Promise<NearestSearch> {
  const searchDim = projection?.outDim ?? dim;
  // Each bank is its own session: the key only has to be unique while it lives.
  const job = { kind: "nearest", bank: searchBank, size, dim: searchDim, ...(projection === undefined ? {} : { projection }), inputDim: dim } as const;
  const model: ModelHandle = await acquireBankGraph(`nearest:${++searchCounter}:${size}x${searchDim}`, job, session);

  return {
    bankSize: size,
    dim,
    async search(queries, count, k) {
      const kk = Math.min(k, size);
      const kTensor = new ort.Tensor("int64", BigInt64Array.from([BigInt(kk)]), [1]);
      const distances = new Float32Array(count * kk);
      const indices = new Int32Array(count * kk);
      // In blocks of QUERY_BLOCK rows; all blocks go to the model's thread in one exchange, not one round trip each.
      const blocks: Array<Record<string, ort.Tensor>> = [];
      for (let first = 0; first < count; first += QUERY_BLOCK) {
        const rows = Math.min(QUERY_BLOCK, count - first);
        blocks.push({ queries: new ort.Tensor("float32", queries.subarray(first * dim, (first + rows) * dim), [rows, dim]), k: kTensor });
      }
      const outs = await model.runEach(blocks);
      outs.forEach((out, b) => {
        const first = b * QUERY_BLOCK;
        distances.set((out.distances as ort.Tensor).data as Float32Array, first * kk);
        const idx = (out.indices as ort.Tensor).data as BigInt64Array;
        for (let i = 0; i < idx.length; i++) indices[first * kk + i] = Number(idx[i]);
      });
      return { distances, indices, k: kk };
    },
    release: () => model.release(),
  };
}
