/**
 * Message reading that needs Node-RED: properties named in the editor. The message contract
 * itself (what each msg property holds) is read and written in src/lib/message.
 */
import type { NodeAPI, NodeMessageInFlow } from "node-red";

/** A non-empty string property, trimmed; anything else is undefined. */
export function stringProperty(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}

/**
 * A message property named in the editor (e.g. "camera.file"). Node-RED throws when a parent of
 * a nested name is missing; that is "no value" here, so the caller can say what is missing.
 */
export function messageProperty(RED: NodeAPI, msg: NodeMessageInFlow, path: string): unknown {
  try {
    return RED.util.getMessageProperty(msg, path) as unknown;
  } catch {
    return undefined;
  }
}
