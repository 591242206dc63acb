/**
 * Learning the normal-difference model from training pairs: defective parts, each with its
 * good template and boxes around its defects. Pixels outside the boxes show what differences
 * good material has from its template; they set the tolerance at each distance from a template
 * edge. The boxes then judge every candidate operating point (opening, smoothing, threshold,
 * minimum area) by defect recall and false regions per image, and the best one within the
 * false-region budget is kept. Nothing here ever sees test images.
 */
import { DefectError } from "../../errors";
import type { Rect } from "../../image/types";
import { applyEdgeTolerance } from "./difference";
import { finishMap, MAX_EDGE_TOLERANCE, NORMAL_MODEL_KIND, rawDifference, type NormalDifferenceModel } from "./normal-model";
import type { GrayPlane } from "./plane";
import { boxMask, componentBoxStats, scoreAtMinArea } from "./regions-eval";
import { sparseComponents } from "./sparse-components";
import { DEFAULT_REGISTRATION, registerToTest, type RegistrationOptions } from "./registration";

export interface TrainingPair {
  /** A part with defects. */
  test: GrayPlane;
  /** Its defect-free template. */
  reference: GrayPlane;
  /** Annotated defects in test-image pixels; everything outside them counts as normal. */
  boxes: Rect[];
}

export interface NormalModelFitOptions {
  registration: RegistrationOptions;
  /** Radius of the tolerant comparison, in pixels. */
  tolerance: number;
  /** Edge-distance bins: 0 .. edgeBins-2 px, and one for everything farther. */
  edgeBins: number;
  /** Share of normal pixels at each edge distance whose difference is tolerated. */
  normalQuantile: number;
  openings: number[];
  smoothings: number[];
  thresholds: number[];
  minAreas: number[];
  /** Most false regions per training image an operating point may produce. */
  falseRegionBudget: number;
}

export const DEFAULT_FIT_OPTIONS: NormalModelFitOptions = {
  registration: DEFAULT_REGISTRATION,
  tolerance: 1,
  edgeBins: 5,
  normalQuantile: 0.999,
  openings: [1, 2, 3],
  smoothings: [0, 1],
  thresholds: [0.2, 0.35, 0.5, 0.65, 0.8],
  minAreas: [1, 4, 8, 12, 16, 24, 32],
  falseRegionBudget: 0.3,
};

/** Differences are kept as bytes between the two passes: 1/510 error, a quarter of the memory. */
const LEVELS = 255;

interface StoredPair {
  difference: Uint8Array;
  distance: Uint8Array;
  valid: Uint8Array;
  boxes: Rect[];
  width: number;
  height: number;
}

interface Tally {
  opening: number;
  smoothing: number;
  threshold: number;
  minArea: number;
  hits: number;
  falseRegions: number;
}

export class NormalModelFitter {
  private readonly options: NormalModelFitOptions;
  private readonly pairs: StoredPair[] = [];
  /** Per edge-distance bin, a histogram of normal pixels' differences (LEVELS + 1 bins). */
  private readonly histograms: Float64Array[];

  constructor(options: Partial<NormalModelFitOptions> = {}) {
    this.options = { ...DEFAULT_FIT_OPTIONS, ...options };
    const { edgeBins, normalQuantile, falseRegionBudget } = this.options;
    if (!(Number.isInteger(edgeBins) && edgeBins >= 1 && edgeBins <= LEVELS)) {
      throw new DefectError("invalidOption", `Option "edgeBins" must be a whole number from 1 to ${LEVELS}, got ${edgeBins}.`, {
        option: "edgeBins",
        value: String(edgeBins),
      });
    }
    if (!(normalQuantile > 0 && normalQuantile < 1)) {
      throw new DefectError("invalidOption", `Option "normalQuantile" must be between 0 and 1, got ${normalQuantile}.`, {
        option: "normalQuantile",
        value: String(normalQuantile),
      });
    }
    if (!(falseRegionBudget >= 0)) {
      throw new DefectError("invalidOption", `Option "falseRegionBudget" must be at least 0, got ${falseRegionBudget}.`, {
        option: "falseRegionBudget",
        value: String(falseRegionBudget),
      });
    }
    this.histograms = Array.from({ length: edgeBins }, () => new Float64Array(LEVELS + 1));
  }

  get size(): number {
    return this.pairs.length;
  }

  /** Aligns one pair and keeps what the fit needs (about 1.2 bytes a pixel). */
  add(pair: TrainingPair): void {
    const { test, reference, boxes } = pair;
    const registration = registerToTest(test, reference, this.options.registration);
    const { difference: raw, distance } = rawDifference(test, registration.aligned, registration.valid, this.options.tolerance, this.options.edgeBins);
    const inBox = boxMask(boxes, test.width, test.height);
    const difference = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const q = Math.round((raw[i] as number) * LEVELS);
      difference[i] = q;
      if (registration.valid[i] === 1 && inBox[i] === 0) {
        const h = this.histograms[distance[i] as number] as Float64Array;
        h[q] = (h[q] as number) + 1;
      }
    }
    this.pairs.push({ difference, distance, valid: registration.valid, boxes, width: test.width, height: test.height });
  }

  /** Per edge-distance bin: the normalQuantile of normal differences, capped. */
  edgeTolerance(): number[] {
    return this.histograms.map((h) => {
      let total = 0;
      for (let v = 0; v <= LEVELS; v++) total += h[v] as number;
      if (total === 0) return 0;
      let cumulative = 0;
      for (let v = 0; v <= LEVELS; v++) {
        cumulative += h[v] as number;
        if (cumulative >= this.options.normalQuantile * total) return Math.min(MAX_EDGE_TOLERANCE, v / LEVELS);
      }
      return MAX_EDGE_TOLERANCE;
    });
  }

  normalPixels(): number {
    let n = 0;
    for (const h of this.histograms) for (let v = 0; v <= LEVELS; v++) n += h[v] as number;
    return n;
  }

  /** Scores every operating point on the stored pairs and returns the model of the best. */
  finish(): NormalDifferenceModel {
    if (this.pairs.length === 0) {
      throw new DefectError("invalidOption", "The normal-difference model needs at least one training pair; none was added.", { pairs: 0 });
    }
    const { openings, smoothings, thresholds, minAreas } = this.options;
    const edgeTolerance = this.edgeTolerance();
    const tallies: Tally[] = [];
    for (const opening of openings) {
      for (const smoothing of smoothings) {
        for (const threshold of thresholds) {
          for (const minArea of minAreas) tallies.push({ opening, smoothing, threshold, minArea, hits: 0, falseRegions: 0 });
        }
      }
    }
    let boxes = 0;
    for (const pair of this.pairs) {
      const { width, height } = pair;
      const difference = Float32Array.from(pair.difference, (q) => q / LEVELS);
      const normalised = applyEdgeTolerance(difference, pair.distance, edgeTolerance);
      const mask = boxMask(pair.boxes, width, height);
      boxes += pair.boxes.length;
      let t = 0;
      for (const opening of openings) {
        for (const smoothing of smoothings) {
          const map = finishMap(normalised, width, height, opening, smoothing, pair.valid).data;
          for (const threshold of thresholds) {
            const stats = componentBoxStats(sparseComponents(map, width, threshold), width, pair.boxes, mask);
            for (const minArea of minAreas) {
              const tally = tallies[t++] as Tally;
              const score = scoreAtMinArea(stats, minArea);
              tally.hits += score.hit.filter(Boolean).length;
              tally.falseRegions += score.falseRegions;
            }
          }
        }
      }
    }
    const best = chooseOperatingPoint(tallies, this.pairs.length, this.options.falseRegionBudget);
    return {
      kind: NORMAL_MODEL_KIND,
      version: 1,
      tolerance: this.options.tolerance,
      edgeTolerance,
      opening: best.opening,
      smoothing: best.smoothing,
      threshold: best.threshold,
      minArea: best.minArea,
      fit: {
        pairs: this.pairs.length,
        normalPixels: this.normalPixels(),
        boxes,
        recall: boxes === 0 ? Number.NaN : best.hits / boxes,
        falseRegionsPerImage: best.falseRegions / this.pairs.length,
      },
    };
  }
}

/**
 * Highest recall within the false-region budget, then fewest false regions; if nothing fits
 * the budget, fewest false regions, then highest recall. Ties keep the earlier (simpler) point.
 */
function chooseOperatingPoint(tallies: Tally[], images: number, budget: number): Tally {
  const within = tallies.filter((t) => t.falseRegions / images <= budget);
  const pool = within.length > 0 ? within : tallies;
  const key = within.length > 0 ? (t: Tally): [number, number] => [t.hits, -t.falseRegions] : (t: Tally): [number, number] => [-t.falseRegions, t.hits];
  let best = pool[0] as Tally;
  for (const t of pool) {
    const [a1, a2] = key(t);
    const [b1, b2] = key(best);
    if (a1 > b1 || (a1 === b1 && a2 > b2)) best = t;
  }
  return best;
}

/** One-call form of the fitter for pairs already in memory. */
export function fitNormalModel(pairs: Iterable<TrainingPair>, options: Partial<NormalModelFitOptions> = {}): NormalDifferenceModel {
  const fitter = new NormalModelFitter(options);
  for (const pair of pairs) fitter.add(pair);
  return fitter.finish();
}
