/**
 * Template comparison of one test image against its own defect-free reference image (a board
 * and its template, a label and its master print).
 */
import type { RawImage, ScoreMap } from "../../image/types";
import type { Shift } from "./align";
import { anomalyMap, checkNormalModel, DEFAULT_NORMAL_MODEL, type NormalDifferenceModel } from "./normal-model";
import { toGrayPlane, type GrayPlane } from "./plane";
import { extractRegions, type TemplateRegion } from "./regions";
import { DEFAULT_REGISTRATION, registerToTest, type RegistrationOptions } from "./registration";
import type { WidthBias } from "./width-bias";

export interface ComparisonTimings {
  /** Milliseconds spent aligning the reference to the test image. */
  align: number;
  /** Building the anomaly map. */
  compare: number;
  /** Thresholding and region extraction. */
  post: number;
}

export interface TemplateComparison {
  /** Anomaly map in the test image's frame (0 = as the reference). */
  map: ScoreMap;
  regions: TemplateRegion[];
  /** Largest map value: an image-level score. */
  score: number;
  /** Global part of the alignment; the local field refines it. */
  shift: Shift;
  /** Largest local correction beyond the global shift, in pixels. */
  maxLocalShift: number;
  /** Line-width drift of the test image (pixels a side per axis) that was compensated. */
  widthBias: WidthBias;
  timings: ComparisonTimings;
}

export interface CompareOptions {
  registration: RegistrationOptions;
}

export const DEFAULT_COMPARE_OPTIONS: CompareOptions = { registration: DEFAULT_REGISTRATION };

function maxValue(data: Float32Array): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > m) m = data[i] as number;
  return m;
}

/** The same comparison on gray planes (0..1), for callers that already hold them. */
export function comparePlanes(
  test: GrayPlane,
  reference: GrayPlane,
  model: NormalDifferenceModel = DEFAULT_NORMAL_MODEL,
  options: CompareOptions = DEFAULT_COMPARE_OPTIONS,
): TemplateComparison {
  checkNormalModel(model);
  const t0 = performance.now();
  const registration = registerToTest(test, reference, options.registration);
  const t1 = performance.now();
  const { map, widthBias } = anomalyMap(test, registration.aligned, registration.valid, model);
  const t2 = performance.now();
  const regions = extractRegions(map, model.threshold, model.minArea);
  const score = maxValue(map.data);
  const t3 = performance.now();
  const { global, field } = registration;
  let maxLocalShift = 0;
  for (let c = 0; c < field.dx.length; c++) {
    maxLocalShift = Math.max(maxLocalShift, Math.hypot((field.dx[c] as number) - global.dx, (field.dy[c] as number) - global.dy));
  }
  return { map, regions, score, shift: global, maxLocalShift, widthBias, timings: { align: t1 - t0, compare: t2 - t1, post: t3 - t2 } };
}

/**
 * Compares a test image with its reference: aligns the reference onto the test image (global
 * shift, then local shifts), builds the anomaly map under the normal-difference model and
 * extracts the regions above its threshold. Both images must have the same size.
 */
export function compareToReference(
  test: RawImage,
  reference: RawImage,
  model: NormalDifferenceModel = DEFAULT_NORMAL_MODEL,
  options: CompareOptions = DEFAULT_COMPARE_OPTIONS,
): TemplateComparison {
  return comparePlanes(toGrayPlane(test, "test image"), toGrayPlane(reference, "reference"), model, options);
}
