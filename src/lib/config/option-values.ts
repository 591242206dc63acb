/**
 * Editor values arrive as strings (numbers and booleans only from hand-written flows): these
 * readers turn them into typed values or an invalidOption error that names the option, what was
 * expected and what was found. Shared by every node's option parser, so one wording reaches the
 * editor whatever the node.
 */
import { DefectError } from "../errors";

/** Text of an editor value; numbers and booleans are accepted as their string forms. */
export function optionText(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return "";
}

export function invalidOption(option: string, expected: string, value: unknown): DefectError {
  const shown = optionText(value);
  return new DefectError("invalidOption", `Option ${option} must be ${expected}, got "${shown}"`, { option, value: shown, expected });
}

export function isMissing(value: unknown): boolean {
  return optionText(value) === "";
}

export function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[], fallback: T): T {
  const raw = optionText(value);
  if (raw === "") return fallback;
  const match = allowed.find((a) => a === raw);
  if (match === undefined) throw invalidOption(option, `one of ${allowed.join(", ")}`, value);
  return match;
}

export function integerOption(option: string, value: unknown, min: number, max: number, fallback: number): number {
  const raw = optionText(value);
  if (raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidOption(option, `an integer from ${min} to ${max}`, value);
  return n;
}

/** A finite number in (min, max] or [min, max] depending on `minIncluded`. */
export function numberOption(option: string, value: unknown, range: { min: number; max: number; minIncluded: boolean }, fallback: number): number {
  const raw = optionText(value);
  if (raw === "") return fallback;
  const n = Number(raw);
  const aboveMin = range.minIncluded ? n >= range.min : n > range.min;
  if (!(Number.isFinite(n) && aboveMin && n <= range.max)) {
    const expected = range.minIncluded ? `a number from ${range.min} to ${range.max}` : `a number above ${range.min} and at most ${range.max}`;
    throw invalidOption(option, expected, value);
  }
  return n;
}

/** A finite number passing `ok` (described by `expected`), or `fallback` when empty. */
export function numberWhere(option: string, value: unknown, fallback: number, expected: string, ok: (n: number) => boolean): number {
  const raw = optionText(value);
  if (raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !ok(n)) throw invalidOption(option, expected, value);
  return n;
}

/** A number (integer when `integer`) in [min, max], or `fallback` when empty. */
export function rangeOption(option: string, value: unknown, min: number, max: number, fallback: number, integer: boolean): number {
  const expected = `${integer ? "an integer" : "a number"} from ${min} to ${max}`;
  return numberWhere(option, value, fallback, expected, (n) => n >= min && n <= max && (!integer || Number.isInteger(n)));
}

/** A message property path as the editor's msg. picker writes it: names joined by dots. */
const PROPERTY_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/** A message property name such as "label" or "part.id"; empty gives `fallback`. */
export function propertyOption(option: string, value: unknown, fallback: string): string {
  const text = isMissing(value) ? fallback : optionText(value);
  if (!PROPERTY_PATH.test(text)) throw invalidOption(option, "a message property such as label or part.label", value);
  return text;
}

export function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  if (isMissing(value)) return fallback;
  throw invalidOption(option, "true or false", value);
}
