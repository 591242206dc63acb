/**
 * Identifiers a flow puts on a message (msg.partId, msg.jobId, msg.recipe): PLCs often send part
 * numbers and serials as numbers, so a number and its text name the same thing. Anything else
 * (an object, a boolean) is refused rather than turned into "[object Object]", which would file
 * every such result under one id.
 */
import { DefectError } from "../errors";

/** The identifier as text; undefined when absent (undefined, null or ""). `property` names it in the error, e.g. "partId". */
export function readIdentifier(value: unknown, property: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) return String(value);
  throw new DefectError("invalidOption", `msg.${property} must be a string or a number, got ${JSON.stringify(value) ?? String(value)}`, {
    option: `msg.${property}`,
    value: JSON.stringify(value) ?? String(value),
  });
}
