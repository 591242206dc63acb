/** SupervisedOptions checked once at open time, so predict never meets a bad value. */
import { DefectError } from "../errors";
import { DEFAULT_SUPERVISED_OPTIONS, RECONSTRUCTION_SCORES, SUPERVISED_TASKS, type SupervisedOptions, type TaskChoice } from "./types";

export const TASK_CHOICES: readonly TaskChoice[] = ["auto", ...SUPERVISED_TASKS];
/** Far above any real max_det, but keeps a typo from meaning "unbounded". */
export const MAX_DETECTIONS_LIMIT = 100_000;
export const MAX_TOP_K = 100_000;

export type ResolvedSupervisedOptions = SupervisedOptions & { backgroundClass: number };

function invalid(option: string, expected: string, value: unknown): DefectError {
  return new DefectError("invalidOption", `Option "${option}" must be ${expected}, got ${JSON.stringify(value) ?? String(value)}.`, {
    option,
    value: String(value),
  });
}

function fraction(option: string, value: number): number {
  if (!(typeof value === "number" && value >= 0 && value <= 1)) throw invalid(option, "a number from 0 to 1", value);
  return value;
}

function integer(option: string, value: number, min: number, max: number): number {
  if (!(Number.isInteger(value) && value >= min && value <= max)) throw invalid(option, `an integer from ${min} to ${max}`, value);
  return value;
}

export function resolveSupervisedOptions(options: Partial<SupervisedOptions>): ResolvedSupervisedOptions {
  const merged = { ...DEFAULT_SUPERVISED_OPTIONS, ...stripUndefined(options) };
  if (!TASK_CHOICES.includes(merged.task)) throw invalid("task", `one of ${TASK_CHOICES.join(", ")}`, merged.task);
  if (!RECONSTRUCTION_SCORES.includes(merged.reconstructionScore)) {
    throw invalid("reconstructionScore", `one of ${RECONSTRUCTION_SCORES.join(", ")}`, merged.reconstructionScore);
  }
  return {
    ...merged,
    confidence: fraction("confidence", merged.confidence),
    iou: fraction("iou", merged.iou),
    maxDetections: integer("maxDetections", merged.maxDetections, 1, MAX_DETECTIONS_LIMIT),
    topK: integer("topK", merged.topK, 1, MAX_TOP_K),
    backgroundClass: integer("backgroundClass", merged.backgroundClass ?? 0, 0, MAX_TOP_K),
  };
}

/** An explicit `undefined` (an unset node field) must not hide the default. */
function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
