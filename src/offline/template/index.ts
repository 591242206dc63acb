/**
 * Template comparison for aligned parts (printed boards, labels, stamped parts): align a test
 * image to its defect-free reference (or to a golden model of several good images), compare
 * with tolerance for the differences good parts show, and report an anomaly map and regions.
 */
export { DEFAULT_PHASE_CORRELATION, phaseCorrelate, type PhaseCorrelationOptions, type Shift } from "../../lib/anomaly/template/align";
export { parseAnnotations, type AnnotatedDefect } from "./annotations";
export {
  compareToReference,
  comparePlanes,
  DEFAULT_COMPARE_OPTIONS,
  type CompareOptions,
  type ComparisonTimings,
  type TemplateComparison,
} from "../../lib/anomaly/template/compare";
export { DEFAULT_FIT_OPTIONS, fitNormalModel, NormalModelFitter, type NormalModelFitOptions, type TrainingPair } from "./fit-normal-model";
export {
  compareGoldenPlanes,
  compareToGolden,
  DEFAULT_GOLDEN_OPTIONS,
  fitGoldenModel,
  fitGoldenPlanes,
  type GoldenComparison,
  type GoldenModel,
  type GoldenModelOptions,
} from "./golden-model";
export { DEFAULT_LOCAL_ALIGNMENT, estimateShiftField, type AlignmentPass, type LocalAlignmentOptions } from "../../lib/anomaly/template/local-alignment";
export {
  anomalyMap,
  checkNormalModel,
  DEFAULT_NORMAL_MODEL,
  NORMAL_MODEL_KIND,
  type NormalDifferenceModel,
  type NormalModelFitSummary,
} from "../../lib/anomaly/template/normal-model";
export { MIN_TEMPLATE_SIDE, toGrayPlane, type GrayPlane } from "../../lib/anomaly/template/plane";
export { extractRegions, type TemplateRegion } from "../../lib/anomaly/template/regions";
export { DEFAULT_REGISTRATION, registerToTest, type Registration, type RegistrationOptions } from "../../lib/anomaly/template/registration";
export type { ShiftField } from "../../lib/anomaly/template/shift-field";
export { shiftPlane, warpByField } from "../../lib/anomaly/template/warp";
export { applyWidthBias, estimateWidthBias, type WidthBias } from "../../lib/anomaly/template/width-bias";
