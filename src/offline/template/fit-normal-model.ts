/**
 * Learning the normal-difference model from training pairs: defective parts, each with its
 * good template and boxes around its defects. Pixels outside the boxes show what differences
 * good material has from its template; they set the tolerance at each distance from a template
 * edge. The boxes then judge every candidate operating point (opening, smoothing, threshold,
 * minimum area) by defect recall and false regions per image, and the best one within the
 * false-region budget is kept. Nothing here ever sees test images.
 */
import { DefectError } from "../../lib/errors";
import type { Rect } from "../../lib/image/types";
import { applyEdgeTolerance } from "../../lib/anomaly/template/difference";
import {
  finishMap,
  MAX_EDGE_TOLERANCE,
  MODEL_LIMITS,
  NORMAL_MODEL_KIND,
  rawDifference,
  type NormalDifferenceModel,
} from "../../lib/anomaly/template/normal-model";
import type { GrayPlane } from "../../lib/anomaly/template/plane";
import { boxMask, componentBoxStats, scoreAtMinArea } from "./regions-eval";
import { sparseComponents } from "../../lib/anomaly/template/sparse-components";
import { DEFAULT_REGISTRATION, registerToTest, type RegistrationOptions } from "../../lib/anomaly/template/registration";

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
  /** Largest line-width drift compensated per image (pixels a side per axis); 0 = off. */
  maxWidthBias: number;
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
  maxWidthBias: 2,
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
const { tolerance: MAX_FIT_TOLERANCE, widthBias: MAX_FIT_WIDTH_BIAS, opening: MAX_FIT_OPENING, smoothing: MAX_FIT_SMOOTHING } = MODEL_LIMITS;

interface StoredPair {
  difference: Uint8Array;
  distance: Uint8Array;
  valid: Uint8Array;
  boxes: Rect[];
  width: number;
  height: number;
}

/** Sizes of the two innermost grid axes (tallies are ordered opening, smoothing, threshold, min area). */
interface GridShape {
  thresholds: number;
  minAreas: number;
}

interface Tally {
  opening: number;
  smoothing: number;
  threshold: number;
  minArea: number;
  hits: number;
  falseRegions: number;
}

function checkFitOptions(options: NormalModelFitOptions): void {
  const bad = (option: string, value: unknown, rule: string): DefectError =>
    new DefectError("invalidOption", `Option "${option}" must be ${rule}, got ${JSON.stringify(value)}.`, { option, value: String(JSON.stringify(value)) });
  const whole = (v: unknown, lo: number, hi: number): boolean => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
  const list = (name: string, values: unknown, ok: (v: unknown) => boolean, rule: string): void => {
    if (!Array.isArray(values) || values.length === 0 || !values.every(ok)) throw bad(name, values, `a non-empty list of ${rule}`);
  };
  const { tolerance, maxWidthBias, edgeBins, normalQuantile, falseRegionBudget } = options;
  if (!whole(tolerance, 0, MAX_FIT_TOLERANCE)) throw bad("tolerance", tolerance, `a whole number from 0 to ${MAX_FIT_TOLERANCE}`);
  if (!whole(maxWidthBias, 0, MAX_FIT_WIDTH_BIAS)) throw bad("maxWidthBias", maxWidthBias, `a whole number from 0 to ${MAX_FIT_WIDTH_BIAS}`);
  if (!whole(edgeBins, 1, LEVELS)) throw bad("edgeBins", edgeBins, `a whole number from 1 to ${LEVELS}`);
  if (!(normalQuantile > 0 && normalQuantile < 1)) throw bad("normalQuantile", normalQuantile, "between 0 and 1");
  if (!(falseRegionBudget >= 0)) throw bad("falseRegionBudget", falseRegionBudget, "at least 0");
  list("openings", options.openings, (v) => whole(v, 1, MAX_FIT_OPENING), `whole numbers from 1 to ${MAX_FIT_OPENING}`);
  list("smoothings", options.smoothings, (v) => typeof v === "number" && v >= 0 && v <= MAX_FIT_SMOOTHING, `numbers from 0 to ${MAX_FIT_SMOOTHING}`);
  list("thresholds", options.thresholds, (v) => typeof v === "number" && v > 0 && v <= 1, "numbers above 0 and at most 1");
  list("minAreas", options.minAreas, (v) => whole(v, 1, Number.MAX_SAFE_INTEGER), "whole numbers of at least 1");
}

export class NormalModelFitter {
  private readonly options: NormalModelFitOptions;
  private readonly pairs: StoredPair[] = [];
  /** Per edge-distance bin, a histogram of normal pixels' differences (LEVELS + 1 bins). */
  private readonly histograms: Float64Array[];

  constructor(options: Partial<NormalModelFitOptions> = {}) {
    this.options = { ...DEFAULT_FIT_OPTIONS, ...options };
    checkFitOptions(this.options);
    this.histograms = Array.from({ length: this.options.edgeBins }, () => new Float64Array(LEVELS + 1));
  }

  get size(): number {
    return this.pairs.length;
  }

  /** Aligns one pair and keeps what the fit needs (about 1.2 bytes a pixel). */
  add(pair: TrainingPair): void {
    const { test, reference, boxes } = pair;
    const registration = registerToTest(test, reference, this.options.registration);
    const { tolerance, edgeBins, maxWidthBias } = this.options;
    const { difference: raw, distance } = rawDifference(test, registration.aligned, registration.valid, tolerance, edgeBins, maxWidthBias);
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
    const best = chooseOperatingPoint(tallies, { thresholds: thresholds.length, minAreas: minAreas.length }, this.pairs.length, this.options.falseRegionBudget);
    return {
      kind: NORMAL_MODEL_KIND,
      version: 1,
      tolerance: this.options.tolerance,
      maxWidthBias: this.options.maxWidthBias,
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
 * The operating point is judged by its worst neighbourhood: the lowest recall and the most false
 * regions among the points one threshold step and one area step away (same opening and
 * smoothing). Chasing the single best cell of the grid picks noise: two halves of DeepPCB's
 * training pairs chose thresholds 0.35 and 0.8 that way. Then: highest recall within the
 * false-region budget, fewest false regions; if nothing fits the budget, fewest false regions,
 * then highest recall. Ties keep the earlier (simpler) point.
 */
function chooseOperatingPoint(tallies: Tally[], shape: GridShape, images: number, budget: number): Tally {
  const { thresholds, minAreas } = shape;
  const robust = tallies.map((t, index) => {
    const a = index % minAreas;
    const th = Math.floor(index / minAreas) % thresholds;
    const base = index - a - th * minAreas;
    let hits = Number.POSITIVE_INFINITY;
    let falseRegions = 0;
    for (let dt = -1; dt <= 1; dt++) {
      for (let da = -1; da <= 1; da++) {
        if (th + dt < 0 || th + dt >= thresholds || a + da < 0 || a + da >= minAreas) continue;
        const n = tallies[base + (th + dt) * minAreas + a + da] as Tally;
        hits = Math.min(hits, n.hits);
        falseRegions = Math.max(falseRegions, n.falseRegions);
      }
    }
    return { tally: t, hits, falseRegions };
  });
  const within = robust.filter((r) => r.falseRegions / images <= budget);
  const pool = within.length > 0 ? within : robust;
  type Scored = (typeof robust)[number];
  const key = within.length > 0 ? (r: Scored): [number, number] => [r.hits, -r.falseRegions] : (r: Scored): [number, number] => [-r.falseRegions, r.hits];
  let best = pool[0] as Scored;
  for (const r of pool) {
    const [a1, a2] = key(r);
    const [b1, b2] = key(best);
    if (a1 > b1 || (a1 === b1 && a2 > b2)) best = r;
  }
  return best.tally;
}

/** One-call form of the fitter for pairs already in memory. */
export function fitNormalModel(pairs: Iterable<TrainingPair>, options: Partial<NormalModelFitOptions> = {}): NormalDifferenceModel {
  const fitter = new NormalModelFitter(options);
  for (const pair of pairs) fitter.add(pair);
  return fitter.finish();
}
