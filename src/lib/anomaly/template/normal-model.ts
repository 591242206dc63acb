/**
 * The model of normal differences: what a good part may differ from its aligned template
 * (edges moved by a pixel, binarisation jitter along edges, thin fringes of line-width drift)
 * and the operating point above which a difference is a defect. It is plain JSON so it can be
 * saved with a flow; `fitNormalModel` learns it from good/defective training pairs.
 */
import { DefectError } from "../../errors";
import type { ScoreMap } from "../../image/types";
import { applyEdgeTolerance, differenceFromRanges } from "./difference";
import { edgeDistanceFromRange } from "./edge-distance";
import { gaussianBlur, greyOpening, localRange } from "./filters";
import type { GrayPlane } from "./plane";
import { applyWidthBias, estimateWidthBias, type WidthBias } from "./width-bias";

export const NORMAL_MODEL_KIND = "template-normal-differences";

export interface NormalModelFitSummary {
  pairs: number;
  /** Pixels outside the annotated boxes that taught the edge tolerances. */
  normalPixels: number;
  boxes: number;
  /** Defect recall and false regions per image of the chosen operating point on the training pairs. */
  recall: number;
  falseRegionsPerImage: number;
}

export interface NormalDifferenceModel {
  kind: typeof NORMAL_MODEL_KIND;
  version: 1;
  /** Radius in pixels within which a matching value excuses a difference (edge jitter). */
  tolerance: number;
  /**
   * Largest line-width drift (pixels a side, per axis) estimated per image and compensated
   * before comparing; 0 turns the compensation off.
   */
  maxWidthBias: number;
  /**
   * Difference (0..1) tolerated at each distance in pixels from a template edge, index 0 = on
   * the edge; the last entry covers every farther pixel.
   */
  edgeTolerance: number[];
  /** Side of the square grey opening that removes thin fringes (1 = none). */
  opening: number;
  /** Gaussian sigma in pixels of the final smoothing (0 = none). */
  smoothing: number;
  /** Map value at or above which a pixel is defective. */
  threshold: number;
  /** Smallest region reported, in pixels. */
  minArea: number;
  fit?: NormalModelFitSummary;
}

/** Largest tolerance a distance bin may learn: above it nothing at that distance could ever be flagged. */
export const MAX_EDGE_TOLERANCE = 0.8;
/** Bounds on the model's fields, shared with the fit's options. */
export const MODEL_LIMITS = { tolerance: 8, widthBias: 4, opening: 15, smoothing: 16 } as const;
const { tolerance: MAX_TOLERANCE, widthBias: MAX_WIDTH_BIAS, opening: MAX_OPENING, smoothing: MAX_SMOOTHING } = MODEL_LIMITS;

/** Generic starting point for parts without training pairs: 1 px edge tolerance, no learned edge model. */
export const DEFAULT_NORMAL_MODEL: NormalDifferenceModel = {
  kind: NORMAL_MODEL_KIND,
  version: 1,
  tolerance: 1,
  maxWidthBias: 2,
  edgeTolerance: [0],
  opening: 1,
  smoothing: 0,
  threshold: 0.5,
  minArea: 8,
};

function invalid(option: string, value: unknown, rule: string): DefectError {
  return new DefectError("invalidOption", `Model field "${option}" must be ${rule}, got ${JSON.stringify(value)}.`, {
    option,
    value: String(JSON.stringify(value)),
  });
}

function wholeIn(value: unknown, lo: number, hi: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= lo && value <= hi;
}

/** Checks a model that may come from a file or a flow message. */
export function checkNormalModel(model: unknown): NormalDifferenceModel {
  if (typeof model !== "object" || model === null) throw invalid("model", model, "an object");
  const m = model as Record<string, unknown>;
  if (m.kind !== NORMAL_MODEL_KIND) throw invalid("kind", m.kind, `"${NORMAL_MODEL_KIND}"`);
  if (m.version !== 1) throw invalid("version", m.version, "1");
  if (!wholeIn(m.tolerance, 0, MAX_TOLERANCE)) throw invalid("tolerance", m.tolerance, `a whole number from 0 to ${MAX_TOLERANCE}`);
  if (!wholeIn(m.maxWidthBias, 0, MAX_WIDTH_BIAS)) throw invalid("maxWidthBias", m.maxWidthBias, `a whole number from 0 to ${MAX_WIDTH_BIAS}`);
  const edge = m.edgeTolerance;
  if (!Array.isArray(edge) || edge.length === 0 || !edge.every((t) => typeof t === "number" && t >= 0 && t <= MAX_EDGE_TOLERANCE)) {
    throw invalid("edgeTolerance", edge, `a non-empty list of numbers from 0 to ${MAX_EDGE_TOLERANCE}`);
  }
  if (!wholeIn(m.opening, 1, MAX_OPENING)) throw invalid("opening", m.opening, `a whole number from 1 to ${MAX_OPENING}`);
  if (!(typeof m.smoothing === "number" && m.smoothing >= 0 && m.smoothing <= MAX_SMOOTHING)) {
    throw invalid("smoothing", m.smoothing, `a number from 0 to ${MAX_SMOOTHING}`);
  }
  if (!(typeof m.threshold === "number" && m.threshold > 0 && m.threshold <= 1)) throw invalid("threshold", m.threshold, "a number above 0 and at most 1");
  if (!wholeIn(m.minArea, 1, Number.MAX_SAFE_INTEGER)) throw invalid("minArea", m.minArea, "a whole number of at least 1");
  return model as NormalDifferenceModel;
}

export interface RawDifference {
  /** Tolerant difference, 0..1. */
  difference: Float32Array;
  /** Distance to the template's nearest edge, capped at bins - 1. */
  distance: Uint8Array;
  /** Line-width drift found and compensated. */
  widthBias: WidthBias;
}

/**
 * The tolerant comparison and the edge distances it is judged by, after compensating the
 * image's line-width drift (up to `maxWidthBias` pixels a side).
 */
export function rawDifference(test: GrayPlane, aligned: GrayPlane, valid: Uint8Array, tolerance: number, bins: number, maxWidthBias: number): RawDifference {
  const { width, height } = test;
  // Edges are judged on the reference's 3x3 range, which the comparison needs anyway at tolerance 1.
  let edgeRange = localRange(aligned, 1);
  let reference = aligned;
  let widthBias: WidthBias = { x: 0, y: 0 };
  let distance = edgeDistanceFromRange(edgeRange, width, height, Math.max(bins - 1, maxWidthBias + 2));
  if (maxWidthBias > 0) {
    widthBias = estimateWidthBias(test, aligned, valid, distance, maxWidthBias);
    if (widthBias.x !== 0 || widthBias.y !== 0) {
      reference = applyWidthBias(aligned, widthBias);
      edgeRange = localRange(reference, 1);
      distance = edgeDistanceFromRange(edgeRange, width, height, bins - 1);
    }
  }
  for (let i = 0; i < distance.length; i++) if ((distance[i] as number) > bins - 1) distance[i] = bins - 1;
  const refRange = tolerance === 1 ? edgeRange : localRange(reference, tolerance);
  const difference = differenceFromRanges(test, localRange(test, tolerance), reference, refRange, valid);
  return { difference, distance, widthBias };
}

/** The difference before opening and smoothing: tolerant comparison minus the learned edge tolerance. */
export function normalisedDifference(
  test: GrayPlane,
  aligned: GrayPlane,
  valid: Uint8Array,
  model: NormalDifferenceModel,
): { difference: Float32Array; widthBias: WidthBias } {
  const raw = rawDifference(test, aligned, valid, model.tolerance, model.edgeTolerance.length, model.maxWidthBias);
  return { difference: applyEdgeTolerance(raw.difference, raw.distance, model.edgeTolerance), widthBias: raw.widthBias };
}

/** Opening and smoothing, the last steps of the map; invalid pixels stay 0. */
export function finishMap(difference: Float32Array, width: number, height: number, opening: number, smoothing: number, valid: Uint8Array): ScoreMap {
  let data = greyOpening(difference, width, height, opening);
  if (smoothing > 0) {
    data = gaussianBlur({ data, width, height }, smoothing).data;
    for (let i = 0; i < data.length; i++) if (valid[i] === 0) data[i] = 0;
  }
  return { data: data === difference ? data.slice() : data, width, height };
}

/** Anomaly map in the test image's frame (0 = as the template, 1 = full-contrast difference) and the width drift compensated. */
export function anomalyMap(test: GrayPlane, aligned: GrayPlane, valid: Uint8Array, model: NormalDifferenceModel): { map: ScoreMap; widthBias: WidthBias } {
  const { difference, widthBias } = normalisedDifference(test, aligned, valid, model);
  return { map: finishMap(difference, test.width, test.height, model.opening, model.smoothing, valid), widthBias };
}
