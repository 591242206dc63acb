/**
 * Large arrays of a "built" model source (a memory bank: 10-60 MB) sent to a worker ahead of the
 * load, in blocks. Posting the job whole structured-clones every array on Node-RED's thread in
 * one go (60-70 ms for a ResNet-50 bank, once per fit and per search opened on it); in blocks,
 * each is a 2 MB copy handed over, with the event loop free between them. The main thread keeps
 * its arrays (a session moved to a new worker after a crash is built again from them).
 */
import type { BuildJob } from "./worker-protocol";

/** Arrays at least this large are staged; smaller ones travel with the job. */
export const STAGE_MIN_BYTES = 4 * 1024 * 1024;
/** One block's size. */
export const STAGE_BLOCK_BYTES = 2 * 1024 * 1024;

const ARRAY_TYPES = {
  Float32Array,
  Float64Array,
  Int8Array,
  Uint8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
} as const;

export type StagedType = keyof typeof ARRAY_TYPES;
type StagedArray = InstanceType<(typeof ARRAY_TYPES)[StagedType]>;

/** One block of a staged array, as the worker receives it. */
export interface StageBlock {
  token: string;
  type: StagedType;
  /** The whole array's length, in elements. */
  length: number;
  /** Where this block goes, in elements. */
  offset: number;
  data: StagedArray;
}

/** What stands in the job for a staged array. */
interface Placeholder {
  staged: string;
}

function isPlaceholder(value: unknown): value is Placeholder {
  return typeof value === "object" && value !== null && Object.keys(value).length === 1 && typeof (value as Placeholder).staged === "string";
}

function stagedType(value: unknown): StagedType | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  return (Object.keys(ARRAY_TYPES) as StagedType[]).find((name) => value instanceof ARRAY_TYPES[name]);
}

/** Plain objects and arrays are walked; anything else is left as it is. */
function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return true;
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

let tokens = 0;

/**
 * The job with each large array replaced by a placeholder, after `send` has delivered its blocks
 * (awaited one by one, so other work runs between them).
 */
export async function stageJob(job: BuildJob, send: (block: StageBlock, transfer: ArrayBuffer[]) => Promise<void>): Promise<BuildJob> {
  async function walk(value: unknown): Promise<unknown> {
    const type = stagedType(value);
    if (type !== undefined) {
      const array = value as StagedArray;
      if (array.byteLength < STAGE_MIN_BYTES) return array;
      const token = `staged#${++tokens}`;
      const perBlock = Math.max(1, Math.floor(STAGE_BLOCK_BYTES / array.BYTES_PER_ELEMENT));
      for (let offset = 0; offset < array.length; offset += perBlock) {
        const data = array.slice(offset, offset + perBlock);
        await send({ token, type, length: array.length, offset, data }, [data.buffer as ArrayBuffer]);
      }
      return { staged: token } satisfies Placeholder;
    }
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (const item of value) out.push(await walk(item));
      return out;
    }
    if (isContainer(value)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[key] = await walk(item);
      return out;
    }
    return value;
  }
  return (await walk(job)) as BuildJob;
}

/** The worker's side: blocks assembled as they come, handed to the job that names them. */
export class StagingArea {
  private readonly arrays = new Map<string, { array: StagedArray; filled: number }>();

  put(block: StageBlock): void {
    let entry = this.arrays.get(block.token);
    if (entry === undefined) {
      entry = { array: new ARRAY_TYPES[block.type](block.length), filled: 0 };
      this.arrays.set(block.token, entry);
    }
    entry.array.set(block.data as never, block.offset);
    entry.filled += block.data.length;
  }

  /** The job with its placeholders replaced by the assembled arrays, which leave the area. */
  resolve(job: BuildJob): BuildJob {
    const take = (token: string): StagedArray => {
      const entry = this.arrays.get(token);
      this.arrays.delete(token);
      if (entry === undefined || entry.filled !== entry.array.length) throw new Error(`staged array "${token}" did not arrive whole`);
      return entry.array;
    };
    const walk = (value: unknown): unknown => {
      if (isPlaceholder(value)) return take(value.staged);
      if (Array.isArray(value)) return value.map(walk);
      if (isContainer(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item)]));
      return value;
    };
    return walk(job) as BuildJob;
  }

  get size(): number {
    return this.arrays.size;
  }
}
