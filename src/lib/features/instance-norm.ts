/**
 * Per-image feature standardisation ("instance normalisation" of the patch features): each
 * channel of one image's patch rows is shifted to mean 0 and scaled to standard deviation 1 over
 * that image's patches. With a few good images the memory bank sees only their lighting and
 * texture statistics; parts of the same kind differ in those as a whole (a brighter tile, a coarser
 * grain), while a defect is local and stands out of its own image's statistics either way. Used
 * on bank and inspected images alike (measured in BENCHMARKS.md, few shots).
 */
import { EMBEDDED_BACKBONE } from "./embedded";
import type { PatchExtractor } from "./extractor";
import type { PatchEmbedding } from "./types";

/**
 * Whether few-shot fits standardise by default with this backbone. ImageNet backbones carry an
 * image's lighting and grain in every patch feature, which a few shots cannot cover: standardised,
 * magnetic_tile K = 4 went from 0.737 to 0.776 image AUROC and casting from 0.813 to 0.834. The
 * embedded backbone was trained to ignore lighting and contrast already; standardising its
 * features only removes information (K = 4: casting 0.719 to 0.621, magnetic_tile 0.713 to 0.626).
 * Figures in BENCHMARKS.md ("Few shots").
 */
export function standardizesByDefault(backbone: string): boolean {
  return backbone !== EMBEDDED_BACKBONE;
}

/** Keeps channels that are constant over the image at 0 instead of dividing by 0. */
const MIN_STD = 1e-6;

/** A standardised copy of `rows` ([patches, dim], row-major); the input is not changed. */
export function standardizeRows(rows: Float32Array, patches: number, dim: number): Float32Array {
  if (rows.length !== patches * dim) throw new RangeError(`${rows.length} values are not ${patches} x ${dim}`);
  const mean = new Float64Array(dim);
  const square = new Float64Array(dim);
  for (let p = 0; p < patches; p++) {
    const row = p * dim;
    for (let c = 0; c < dim; c++) {
      const v = rows[row + c] as number;
      mean[c] = (mean[c] as number) + v;
      square[c] = (square[c] as number) + v * v;
    }
  }
  const scale = new Float64Array(dim);
  for (let c = 0; c < dim; c++) {
    const m = (mean[c] as number) / patches;
    mean[c] = m;
    const variance = Math.max(0, (square[c] as number) / patches - m * m);
    scale[c] = 1 / Math.max(Math.sqrt(variance), MIN_STD);
  }
  const out = new Float32Array(rows.length);
  for (let p = 0; p < patches; p++) {
    const row = p * dim;
    for (let c = 0; c < dim; c++) out[row + c] = ((rows[row + c] as number) - (mean[c] as number)) * (scale[c] as number);
  }
  return out;
}

export function standardizeEmbedding(embedding: PatchEmbedding): PatchEmbedding {
  return { ...embedding, data: standardizeRows(embedding.data, embedding.patches, embedding.dim) };
}

/**
 * `inner` with every embedding standardised, so whatever embeds through it (bank, few-shot
 * variants, inspections, parts learned on the line) lives in the same feature space. Raw layer
 * outputs are left as they are.
 */
export function standardizingExtractor(inner: PatchExtractor): PatchExtractor {
  return {
    backbone: inner.backbone,
    layers: (tensor) => inner.layers(tensor),
    embed: async (tensor) => standardizeEmbedding(await inner.embed(tensor)),
    release: () => inner.release(),
  };
}
