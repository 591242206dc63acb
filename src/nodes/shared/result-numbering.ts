/** Numbering the results a station decides, in a counter under the user directory that survives restarts. */
import type { Node, NodeAPI } from "node-red";
import { ResultIds, resultIdsPath, type ResultIdGrant } from "../../lib/result";
import { translateError } from "./errors";
import { baseDirectory } from "./settings";

export interface ResultNumbering {
  /**
   * The next result id of this station, with the failure to save the counter when there was one
   * (to report; the id is good for this run). resultIdsFailed when the counter file is damaged.
   */
  next(): Promise<ResultIdGrant>;
  /** Waits for a reservation being written, so the node deployed next reads the file after it. */
  close(): Promise<void>;
}

/**
 * A station (a threshold node, or a join views node for parts seen in several views; its id names
 * the counter file) numbers every verdict it decides; two inspection lines in one flow number their
 * own results.
 */
export function startResultNumbering(RED: NodeAPI, node: Node, type: string): ResultNumbering {
  const opened = ResultIds.open(resultIdsPath(baseDirectory(RED), node.id));
  // Said once at deploy; each verdict refused because of it reaches Catch too.
  opened.catch((error: unknown) => node.error(translateError(RED, type, error)));
  return {
    next: async () => (await opened).next(),
    close: () => opened.then((ids) => ids.close()).catch(() => undefined),
  };
}
