/**
 * The supervised patch head of the defect-aware evaluation (labelled defects with masks or boxes
 * only): defect-region patches against good patches, scored leave-one-out on the labelled images.
 * A patch's classifier evidence is max(0, logit): only patches the head calls defect (p > 0.5)
 * raise a score, so good patches keep their PatchCore score, as with the defect bank.
 */
import type { PatchEmbedding } from "../../lib/features/types";
import { patchLogits, trainPatchClassifier, DEFAULT_PATCH_CLASSIFIER_OPTIONS, type PatchClassifier } from "../patchcore/patch-classifier";

/** Every STRIDE-th good patch is a negative: enough of them, at a fraction of the training time. */
const NEGATIVE_STRIDE = 8;
/** l2 measured by leave-one-out on the labelled deeppcb training images (0.01 / 0.1 / 1: 1.000 / 0.988 / 0.666). */
const CLASSIFIER_L2 = 0.01;

export interface RegionSample {
  embedding: PatchEmbedding;
  /** Patch-grid defect region. */
  region: Uint8Array;
}

function gather(list: Array<{ embedding: PatchEmbedding; keep: (p: number) => boolean }>): Float32Array {
  const rows: Float32Array[] = [];
  for (const { embedding, keep } of list) {
    for (let p = 0; p < embedding.patches; p++) if (keep(p)) rows.push(embedding.data.subarray(p * embedding.dim, (p + 1) * embedding.dim));
  }
  const dim = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

/** Trained on every labelled image but `leaveOut`. */
export function trainRegionClassifier(goodShots: readonly PatchEmbedding[], labelled: readonly RegionSample[], leaveOut = -1): PatchClassifier {
  const used = labelled.filter((_, i) => i !== leaveOut);
  const positive = gather(used.map((s) => ({ embedding: s.embedding, keep: (p: number) => s.region[p] !== 0 })));
  const negative = gather([
    ...goodShots.map((embedding) => ({ embedding, keep: (p: number) => p % NEGATIVE_STRIDE === 0 })),
    // Defect images' own good areas: the head must learn the defect, not "an image with a defect".
    ...used.map((s) => ({ embedding: s.embedding, keep: (p: number) => s.region[p] === 0 && p % NEGATIVE_STRIDE === 0 })),
  ]);
  return trainPatchClassifier(positive, negative, goodShots[0]?.dim ?? 0, { ...DEFAULT_PATCH_CLASSIFIER_OPTIONS, l2: CLASSIFIER_L2 });
}

/** max(0, logit) per patch, from the logit itself: log(p / (1 - p)) is Infinity once p rounds to 1. */
export function classifierEvidence(classifier: PatchClassifier, embedding: PatchEmbedding): Float32Array {
  return patchLogits(classifier, embedding.data, embedding.patches).map((logit) => Math.max(0, logit));
}
