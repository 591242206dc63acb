/**
 * The learned images a fitted PatchCore model keeps so that the good scores it handed the
 * threshold can follow its scoring. The fit hands each learned image's leave-one-out score
 * (leave-one-image-out.ts); a defect confirmed on the line later adds evidence to every score
 * (the patch head's and the defect bank's, online-scorers.ts), good parts' scores included, and
 * a threshold calibrated on the scores from before rejects far more good parts than it promised
 * (deeppcb, 10 boxed defects confirmed: 81 % of good boards instead of 1 %). With each image's
 * tensor, its leave-one-out score and patch distances kept, the model scores them again as an
 * inspection would after the change: the same score plus the new evidence of its features.
 *
 * Tensors are kept as one byte a value where each channel holds at most 256 distinct values (a
 * tensor made from an 8-bit image: every value is one of its channel's 256 normalised levels),
 * exactly; otherwise as two bytes a value, within half a step of 1/65535 of the tensor's range.
 * 196 KB for 256 x 256 RGB from an 8-bit image instead of 768 KB. (The head's evidence moved by
 * a tenth when the tensors were kept as 8 bits of their range instead: it is that sensitive.)
 * They are saved with the model (kept-store.ts), so a restart hands over what it would have before.
 * A learning round holds its tensors this way from the start (patchcore-round.ts).
 */
import { tensorSize } from "../../image/tensor";
import type { Tensor, TensorLayout } from "../../image/types";

export type CompactTensor =
  | {
      kind: "levels";
      /** Each channel's distinct values; a value is levels[channel][code]. */
      levels: Float32Array[];
      codes: Uint8Array;
      dims: number[];
      layout: TensorLayout;
    }
  | {
      kind: "range";
      /** value = offset + step * code. */
      offset: number;
      step: number;
      codes: Uint16Array;
      dims: number[];
      layout: TensorLayout;
    };

/** The channel of value i: NCHW [1, C, H, W] in planes, NHWC [1, H, W, C] interleaved. */
function channelIndex(tensor: Pick<Tensor, "dims" | "layout">): { channels: number; nhwc: boolean; plane: number } {
  const { channels, width, height } = tensorSize(tensor);
  return { channels, nhwc: tensor.layout === "NHWC", plane: width * height };
}

/** Slots of a channel's hash of distinct values: 4x the 256 it may hold. */
const SLOTS = 1024;
/** Knuth's multiplicative hash of a value's float bits, to 10 bits. */
const slotOf = (bits: number): number => Math.imul(bits, 0x9e3779b1) >>> 22;

function asLevels(tensor: Tensor): CompactTensor | undefined {
  const { channels, nhwc, plane } = channelIndex(tensor);
  // Distinct values are found by their bits (a typed-array hash: a Map was 5x slower on Node-RED's thread).
  const bits = new Int32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length);
  const keys = new Int32Array(channels * SLOTS);
  const slotCodes = new Int16Array(channels * SLOTS).fill(-1);
  const levels = Array.from({ length: channels }, () => new Float32Array(256));
  const counts = new Int32Array(channels);
  const codes = new Uint8Array(new ArrayBuffer(wordBytes(bits.length)), 0, bits.length);
  for (let i = 0; i < bits.length; i++) {
    const c = nhwc ? i % channels : (i / plane) | 0;
    const b = bits[i] as number;
    let slot = slotOf(b);
    for (;;) {
      const at = c * SLOTS + slot;
      const code = slotCodes[at] as number;
      if (code < 0) {
        const next = counts[c] as number;
        if (next === 256) return undefined;
        keys[at] = b;
        slotCodes[at] = next;
        (levels[c] as Float32Array)[next] = tensor.data[i] as number;
        counts[c] = next + 1;
        codes[i] = next;
        break;
      }
      if (keys[at] === b) {
        codes[i] = code;
        break;
      }
      slot = (slot + 1) % SLOTS;
    }
  }
  return { kind: "levels", levels: levels.map((l, c) => l.slice(0, counts[c])), codes, dims: [...tensor.dims], layout: tensor.layout };
}

function asRange(tensor: Tensor): CompactTensor {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of tensor.data) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  if (!(low <= high)) [low, high] = [0, 0];
  const step = high > low ? (high - low) / 65535 : 1;
  const codes = new Uint16Array(new ArrayBuffer(wordBytes(2 * tensor.data.length)), 0, tensor.data.length);
  for (let i = 0; i < codes.length; i++) codes[i] = Math.round(((tensor.data[i] as number) - low) / step);
  return { kind: "range", offset: low, step, codes, dims: [...tensor.dims], layout: tensor.layout };
}

export function compactTensor(tensor: Tensor): CompactTensor {
  return asLevels(tensor) ?? asRange(tensor);
}

/** Bytes rounded up to whole 4-byte words: codes are allocated so, to be saved as int32 without a copy. */
export const wordBytes = (bytes: number): number => Math.ceil(bytes / 4) * 4;

/**
 * The codes as the int32 words that hold them (a view, no copy), as the model file stores them:
 * codes are always word-padded (compactTensor allocates them so, kept-store reads them from sections).
 */
export function codeWords(compact: CompactTensor): Int32Array {
  const { codes } = compact;
  return new Int32Array(codes.buffer, codes.byteOffset, wordBytes(codes.byteLength) / 4);
}

/** Whether every code of a one-byte tensor names one of its channel's levels (a file read back). */
export function codesInRange(compact: CompactTensor): boolean {
  if (compact.kind === "range") return true;
  const { channels, nhwc, plane } = channelIndex(compact);
  if (compact.levels.length !== channels) return false;
  for (let i = 0; i < compact.codes.length; i++) {
    if ((compact.codes[i] as number) >= (compact.levels[nhwc ? i % channels : (i / plane) | 0] as Float32Array).length) return false;
  }
  return true;
}

export function expandTensor(compact: CompactTensor): Tensor {
  const data = new Float32Array(compact.codes.length);
  if (compact.kind === "levels") {
    const { channels, nhwc, plane } = channelIndex(compact);
    for (let i = 0; i < data.length; i++)
      data[i] = (compact.levels[nhwc ? i % channels : (i / plane) | 0] as Float32Array)[compact.codes[i] as number] as number;
  } else {
    for (let i = 0; i < data.length; i++) data[i] = compact.offset + compact.step * (compact.codes[i] as number);
  }
  return { data, dims: [...compact.dims], layout: compact.layout };
}

/**
 * Learned images kept at most: 200 scores calibrate a 1 % false-reject rate as the default round
 * does (split conformal needs 99), cost 39 MB at 256 px and about 11 s to score again on two
 * cores; a round of 10,000 images would cost 2 GB and ten minutes an answer.
 */
export const MAX_KEPT_IMAGES = 200;

/** `count` of `items` spread evenly over them, in order (all of them when there are no more). */
export function spreadEvenly<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)] as T);
}

/** One learned image as its leave-one-out scoring saw it. */
export interface KeptImage {
  tensor: CompactTensor;
  /** Its image score against the bank without its own rows, the appearance term included. */
  score: number;
  /** Its patch distances to that bank (what the defect bank's evidence is measured against). */
  grid: Float32Array;
}
