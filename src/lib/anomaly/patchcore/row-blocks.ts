/**
 * Many rows of `dim` float32 values held in several buffers of `blockRows` rows each (the last
 * one may be shorter): a learning round appends each image's rows as it arrives, and the coreset
 * reads them where they are, so a fit never needs one huge allocation or a copy to concatenate.
 */

export interface RowBlocks {
  dim: number;
  count: number;
  /** Rows in every block but the last. */
  blockRows: number;
  blocks: Float32Array[];
}

/** One contiguous [count, dim] array seen as row blocks (no copy). */
export function singleBlock(data: Float32Array, count: number, dim: number): RowBlocks {
  return { dim, count, blockRows: Math.max(1, count), blocks: [data.subarray(0, count * dim)] };
}

/** Row `r` as a view into its block. */
export function rowOf(rows: RowBlocks, r: number): Float32Array {
  const block = rows.blocks[Math.floor(r / rows.blockRows)] as Float32Array;
  const start = (r % rows.blockRows) * rows.dim;
  return block.subarray(start, start + rows.dim);
}

/** Rows [first, first + count) copied into one array. */
export function copyRows(rows: RowBlocks, first: number, count: number): Float32Array {
  const out = new Float32Array(count * rows.dim);
  for (let r = 0; r < count; r++) out.set(rowOf(rows, first + r), r * rows.dim);
  return out;
}

/**
 * 64k rows of 128 projected values is 32 MB a block: few enough blocks to keep per-block work
 * cheap, small enough that the last, partly filled block wastes little.
 */
export const DEFAULT_BLOCK_ROWS = 65_536;

/** Appends rows into fixed-size blocks, allocating a block only when the previous one is full. */
export class RowBlockWriter {
  private readonly blocks: Float32Array[] = [];
  private count = 0;

  constructor(
    readonly dim: number,
    private readonly blockRows = DEFAULT_BLOCK_ROWS,
  ) {}

  get rows(): number {
    return this.count;
  }

  append(rows: Float32Array): void {
    const n = rows.length / this.dim;
    if (!Number.isInteger(n)) throw new RangeError(`${rows.length} values are not whole rows of ${this.dim}`);
    let done = 0;
    while (done < n) {
      const within = this.count % this.blockRows;
      if (within === 0) this.blocks.push(new Float32Array(this.blockRows * this.dim));
      const take = Math.min(n - done, this.blockRows - within);
      (this.blocks[this.blocks.length - 1] as Float32Array).set(rows.subarray(done * this.dim, (done + take) * this.dim), within * this.dim);
      done += take;
      this.count += take;
    }
  }

  /** The rows so far; the last block is trimmed to its rows (a view, no copy). */
  finish(): RowBlocks {
    const blocks = [...this.blocks];
    const used = this.count - (blocks.length - 1) * this.blockRows;
    if (blocks.length > 0) blocks[blocks.length - 1] = (blocks[blocks.length - 1] as Float32Array).subarray(0, used * this.dim);
    return { dim: this.dim, count: this.count, blockRows: this.blockRows, blocks };
  }
}
