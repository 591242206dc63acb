/**
 * Brings a reference (template or golden mean) onto the test image: global phase correlation
 * for reach, then the local shift field for the uneven stretch of scanned parts. The result
 * lives in the test image's frame, so anomaly maps and regions are in test-image pixels.
 */
import { DEFAULT_PHASE_CORRELATION, phaseCorrelate, type PhaseCorrelationOptions, type Shift } from "./align";
import { DEFAULT_LOCAL_ALIGNMENT, estimateShiftField, type LocalAlignmentOptions } from "./local-alignment";
import { assertSameSize, type GrayPlane } from "./plane";
import { uniformField, type ShiftField } from "./shift-field";
import { warpByField } from "./warp";

export interface RegistrationOptions {
  global: PhaseCorrelationOptions;
  /** null = global shift only (rigidly held parts, or to compare against the local field). */
  local: LocalAlignmentOptions | null;
}

export const DEFAULT_REGISTRATION: RegistrationOptions = { global: DEFAULT_PHASE_CORRELATION, local: DEFAULT_LOCAL_ALIGNMENT };

export interface Registration {
  /** The reference resampled into the test image's frame. */
  aligned: GrayPlane;
  /** 1 where the aligned reference is real content, 0 where it was read past its border. */
  valid: Uint8Array;
  global: Shift;
  /** Local shifts (global included); `warpByField` applies them to companion planes such as a golden spread. */
  field: ShiftField;
}

export function registerToTest(test: GrayPlane, reference: GrayPlane, options: RegistrationOptions = DEFAULT_REGISTRATION): Registration {
  assertSameSize(test, reference, "test image", "reference");
  const global = phaseCorrelate(reference, test, options.global);
  const field = options.local
    ? estimateShiftField(reference, test, global, options.local)
    : uniformField(test.width, test.height, DEFAULT_LOCAL_ALIGNMENT.cellSize, global.dx, global.dy);
  const valid = new Uint8Array(test.width * test.height);
  const aligned = warpByField(reference, field, 1, valid);
  return { aligned, valid, global, field };
}
