/**
 * The one path every error of every node takes: a translated message keyed by the error code,
 * a red status, and a report Catch nodes can see.
 */
import type { Node, NodeAPI, NodeMessage } from "node-red";
import { describeError, isDefectError } from "../../lib/errors";

/** Code given to errors that did not come from our core (bugs, library surprises). */
export const UNEXPECTED_CODE = "unexpected";

/** An Error whose own `code` Node-RED copies into the Catch node's msg.error.code. */
export interface NodeError extends Error {
  code: string;
}

/**
 * Translates any thrown value with the node's catalog (`<type>.errors.<code>`, details as
 * placeholders). The core's English message stays reachable as `cause` for logs.
 */
export function translateError(RED: NodeAPI, type: string, error: unknown): NodeError {
  const code = isDefectError(error) ? error.code : UNEXPECTED_CODE;
  // `message` lets a catalog entry fall back to the core's English text where details vary.
  const details = isDefectError(error) ? { message: error.message, ...error.details } : { message: describeError(error) };
  const translated = new Error(RED._(`${type}.errors.${code}`, details), { cause: error }) as NodeError;
  translated.code = code;
  return translated;
}

export interface ErrorRouter {
  /** For an input message: red status and done(err), so the message reaches Catch nodes. */
  fail(error: unknown, done: (err?: Error) => void): void;
  /** For work no input started (watched files, startup): catchable through `msg`. */
  report(error: unknown, msg: NodeMessage): void;
  /** For invalid configuration at deploy: logged and shown; returns the error later inputs get. */
  config(error: unknown): NodeError;
}

export function createErrorRouter(RED: NodeAPI, node: Node, type: string, status: { set(state: "error"): void }): ErrorRouter {
  return {
    fail(error, done) {
      status.set("error");
      done(translateError(RED, type, error));
    },
    report(error, msg) {
      status.set("error");
      node.error(translateError(RED, type, error), msg);
    },
    config(error) {
      const translated = translateError(RED, type, error);
      status.set("error");
      node.error(translated);
      return translated;
    },
  };
}
