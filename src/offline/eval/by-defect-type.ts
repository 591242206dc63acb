/**
 * Recall broken down by defect type (the test folder a defective part came from): a
 * plant engineer asks which kinds of defect the line lets through, not only how many. Each type's
 * parts are measured against all the good test parts, so the thresholds are the same ones the
 * overall figures use and the per-type recalls weigh up to the overall one.
 */
import { recallAtFrr } from "../../lib/metrics";
import type { TestSample } from "./mvtec-dataset";

export interface DefectTypeFigures {
  /** Defective test parts of this type. */
  images: number;
  /** Share of them scored above the score that rejects 1 % (5 %) of the good test parts. */
  recall_at_frr_1: number | null;
  recall_at_frr_5: number | null;
  /** Share of them the threshold node called NG; null where no verdicts were given. */
  calibrated_recall: number | null;
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/**
 * Figures per defect type, types in name order. `scores[i]` and `verdicts[i]` belong to
 * `samples[i]`; `verdicts` may be omitted (eval: no threshold node).
 */
export function figuresByDefectType(
  samples: readonly TestSample[],
  scores: readonly number[],
  verdicts?: readonly string[],
): Record<string, DefectTypeFigures> {
  if (scores.length !== samples.length || (verdicts !== undefined && verdicts.length !== samples.length))
    throw new RangeError(`${samples.length} samples, ${scores.length} scores${verdicts === undefined ? "" : `, ${verdicts.length} verdicts`}`);
  const good = samples.flatMap((s, i) => (s.defective ? [] : [scores[i] as number]));
  const types = [...new Set(samples.filter((s) => s.defective).map((s) => s.type))].sort();
  const figures: Record<string, DefectTypeFigures> = {};
  for (const type of types) {
    const members = samples.flatMap((s, i) => (s.defective && s.type === type ? [i] : []));
    const ranked = [...good, ...members.map((i) => scores[i] as number)];
    const labels = ranked.map((_, k) => (k < good.length ? 0 : 1));
    figures[type] = {
      images: members.length,
      recall_at_frr_1: finiteOrNull(recallAtFrr(ranked, labels, 0.01)),
      recall_at_frr_5: finiteOrNull(recallAtFrr(ranked, labels, 0.05)),
      calibrated_recall: verdicts === undefined ? null : members.filter((i) => verdicts[i] === "NG").length / members.length,
    };
  }
  return figures;
}

/** One line for the CLI tables: each type's recall at 1 % / 5 % false rejects and its count; "-" for none. */
export function defectTypeSummary(figures: Readonly<Record<string, DefectTypeFigures>>): string {
  const num = (value: number | null): string => (value === null ? "-" : value.toFixed(2));
  const parts = Object.entries(figures).map(([type, f]) => `${type} ${num(f.recall_at_frr_1)} / ${num(f.recall_at_frr_5)} (${f.images})`);
  return parts.length === 0 ? "-" : parts.join(", ");
}
