/** The template method's options, with their defaults and limits (options.ts parses them). */
import { MODEL_LIMITS } from "../../anomaly/template/normal-model";

export interface TemplateOptions {
  /** Edge displacement excused by the comparison, pixels (the normal-difference model's tolerance). */
  tolerance: number;
  /** Largest displacement of a part from its reference that the alignment searches, pixels per axis. */
  maxShift: number;
}

export const DEFAULT_TEMPLATE_OPTIONS: Readonly<TemplateOptions> = Object.freeze({ tolerance: 1, maxShift: 32 });
export const MAX_TEMPLATE_TOLERANCE = MODEL_LIMITS.tolerance;
/**
 * The global alignment's reach: phase correlation in a window of at most 128 pixels of the image
 * reduced 4 times, of which a shift of 62 can be told from wrap-around (align.ts).
 */
export const MAX_TEMPLATE_SHIFT = 248;
