/**
 * The evidence an alarm event carries: the part that tipped the rule, its score and a short
 * summary of its regions (the most severe few, not all of them, so an event stays small enough
 * for a dashboard, an e-mail or a database row).
 */
import type { Evidence, EvidenceRegion, Inspection, RegionLike } from "./types";

/** mask-to-region sorts regions by severity, so the first ones are the ones worth showing. */
export const EVIDENCE_REGIONS = 3;

function evidenceRegion(region: RegionLike): EvidenceRegion {
  return {
    x: region.x,
    y: region.y,
    width: region.width,
    height: region.height,
    area: region.area ?? region.width * region.height,
    maxScore: region.maxScore ?? null,
  };
}

export function evidenceOf(part: Inspection): Evidence {
  const all = part.regions.map(evidenceRegion);
  return {
    partId: part.partId,
    resultId: part.resultId,
    score: part.score,
    verdict: part.verdict,
    regions: {
      count: part.regionCount ?? part.regions.length,
      totalArea: all.reduce((sum, r) => sum + r.area, 0),
      top: all.slice(0, EVIDENCE_REGIONS),
    },
  };
}
