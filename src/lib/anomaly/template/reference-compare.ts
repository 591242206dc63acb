/**
 * Template comparison of a part against a set of learned references: the part picks its
 * reference (the best thumbnail match, reference-set.ts), the reference is aligned onto it and
 * compared under the normal-difference model exactly as `eval --method template` compares a test
 * image with its template, and the map is put on the reported scale (template-score.ts).
 *
 * A part that is a learned reference itself, sent again (to calibrate a threshold on the good
 * images learned, say), would score exactly 0 against itself, which says nothing about good
 * parts: a threshold calibrated on such zeros flags any difference at all. It is compared instead
 * with another learned reference of the same design when there is one (a real other good part:
 * the leave-one-out score), else with itself. Two references show the same design when, aligned,
 * at most 2 % of the image differs at the operating point: captures of one DeepPCB board, defects
 * included, differ on 0.4 % at most, two different boards on 11 % or more, and thumbnails alone
 * cannot tell (fine print shifted by a stroke correlates less than two boards of parallel lines).
 */
import type { ScoreMap } from "../../image/types";
import type { Shift } from "./align";
import { comparePlanes, type ComparisonTimings } from "./compare";
import type { NormalDifferenceModel } from "./normal-model";
import { assertSameSize, type GrayPlane } from "./plane";
import { findCopy, quantizePlane, rankReferences, referencePlane, thumbnail, type ReferenceMatch, type ReferenceSet } from "./reference-set";
import type { RegistrationOptions } from "./registration";
import { OPERATING_POINT, peak, reportedMap } from "./template-score";

/** Share of the image that may differ at the operating point between two references of one design. */
export const SAME_DESIGN_AREA = 0.02;
/** Other references tried for a learned reference sent again: the best thumbnail matches, if they match at all. */
const LEAVE_ONE_OUT_CANDIDATES = 2;
const MIN_CANDIDATE_SIMILARITY = 0.5;

export interface ReferenceChoice {
  /** The reference the part was compared with. */
  match: ReferenceMatch;
  /** The part is this learned reference itself (see the file comment); `match` is then another one of its design, or itself. */
  copyOf?: number;
}

export interface ReferenceComparison {
  /** On the reported scale, in the part's frame (0 where the aligned reference did not reach). */
  map: ScoreMap;
  /** The map's peak. */
  score: number;
  choice: ReferenceChoice;
  /** Global part of the alignment (zero when the part was compared with itself). */
  shift: Shift;
  timings: ComparisonTimings & { match: number };
}

interface Compared {
  map: ScoreMap;
  shift: Shift;
  timings: ComparisonTimings;
}

function compareWith(set: ReferenceSet, part: GrayPlane, index: number, model: NormalDifferenceModel, registration: RegistrationOptions): Compared {
  const comparison = comparePlanes(part, referencePlane(set, index), model, { registration });
  const t0 = performance.now();
  const map = reportedMap(comparison.map, model);
  const timings = { ...comparison.timings, post: comparison.timings.post + performance.now() - t0 };
  return { map, shift: comparison.shift, timings };
}

function differingShare(map: ScoreMap): number {
  let n = 0;
  for (let i = 0; i < map.data.length; i++) if ((map.data[i] as number) >= OPERATING_POINT) n++;
  return n / map.data.length;
}

export function compareWithReferences(
  set: ReferenceSet,
  part: GrayPlane,
  model: NormalDifferenceModel,
  registration: RegistrationOptions,
): ReferenceComparison {
  const t0 = performance.now();
  assertSameSize(part, { data: new Float32Array(0), width: set.width, height: set.height }, "part", "learned reference");
  const ranked = rankReferences(set, thumbnail(part));
  const best = ranked[0] as ReferenceMatch;
  const quantized = quantizePlane(part);
  const copyOf = findCopy(set, ranked, quantized);
  const match = performance.now() - t0;
  const done = (compared: Compared, choice: ReferenceChoice): ReferenceComparison => ({
    map: compared.map,
    score: peak(compared.map.data),
    choice,
    shift: compared.shift,
    timings: { ...compared.timings, match },
  });
  if (copyOf === undefined) return done(compareWith(set, part, best.index, model, registration), { match: best });
  const candidates = ranked.filter((m) => m.index !== copyOf && m.similarity >= MIN_CANDIDATE_SIMILARITY).slice(0, LEAVE_ONE_OUT_CANDIDATES);
  for (const candidate of candidates) {
    const compared = compareWith(set, part, candidate.index, model, registration);
    if (differingShare(compared.map) <= SAME_DESIGN_AREA) return done(compared, { match: candidate, copyOf });
  }
  // No other reference of its design: against itself nothing differs, and nothing needs computing.
  const self = ranked.find((m) => m.index === copyOf) as ReferenceMatch;
  const empty = { data: new Float32Array(part.width * part.height), width: part.width, height: part.height };
  return done({ map: empty, shift: { dx: 0, dy: 0, confidence: 1 }, timings: { align: 0, compare: 0, post: 0 } }, { match: self, copyOf });
}
