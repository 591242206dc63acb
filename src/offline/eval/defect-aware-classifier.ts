/**
 * The supervised patch head of the defect-aware evaluation (labelled defects with masks or boxes
 * only), trained and scored by the detector's own code (lib/anomaly/patchcore/region-head.ts):
 * defect-region patches against good patches, scored leave-one-out on the labelled images.
 */
import type { PatchEmbedding } from "../../lib/features/types";
import type { PatchClassifier } from "../../lib/anomaly/patchcore/patch-classifier";
import { HEAD_NEGATIVE_STRIDE, openHeadScorer, patchRows, regionRows, trainRegionHead, type RegionSample } from "../../lib/anomaly/patchcore/region-head";
import type { SessionOptions } from "../../lib/onnx";

export type { RegionSample };

/**
 * The evaluation's l2: chosen by leave-one-out on its labelled deeppcb training images (0.01 / 0.1 / 1:
 * 1.000 / 0.988 / 0.666), with good shots as negatives. The detector's own (region-head.ts HEAD_L2)
 * was chosen for its negatives, the good bank's rows.
 */
export const EVAL_HEAD_L2 = 0.01;

/** Trained on every labelled image but `leaveOut`, with every STRIDE-th patch of the good shots as negatives. */
export function trainRegionClassifier(goodShots: readonly PatchEmbedding[], labelled: readonly RegionSample[], leaveOut = -1): PatchClassifier {
  const used = labelled.filter((_, i) => i !== leaveOut).map((s) => regionRows(s));
  const good = goodShots.map((e) => patchRows(e, (p) => p % HEAD_NEGATIVE_STRIDE === 0));
  return trainRegionHead(
    used.map((r) => r.positive),
    [...good, ...used.map((r) => r.negative)],
    goodShots[0]?.dim ?? 0,
    EVAL_HEAD_L2,
  );
}

/** The largest evidence of each embedding under `classifier`. */
export async function maxHeadEvidence(classifier: PatchClassifier, embeddings: readonly PatchEmbedding[], session?: SessionOptions): Promise<number[]> {
  const scorer = await openHeadScorer(classifier, session);
  try {
    const out: number[] = [];
    for (const e of embeddings) out.push((await scorer.evidence(e)).reduce((m, v) => Math.max(m, v), 0));
    return out;
  } finally {
    await scorer.release();
  }
}
