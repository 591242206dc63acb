/**
 * The detector's messages beyond "inspect this tensor": commands (fit, reset, rollback,
 * start/stop learning, recipe: switch the product without an image), operator verdicts (msg.confirm with msg.partId or an image, and for a
 * defect optionally where it is), and the learning state the status, the answers and the editor show.
 */
import type { NodeMessageInFlow } from "node-red";
import type { DetectorEngine, LearningState } from "../lib/detector";
// Part ids from PLCs are often numbers; both name the same part (the threshold node reads them so too).
import { DefectError } from "../lib/errors";
import { asksToLearn, readCommand, readConfirm, readIdentifier as readPartId, type ConfirmVerdict, type DefectRegion } from "../lib/message";

export const COMMANDS = ["fit", "reset", "rollback", "start-learning", "stop-learning", "recipe"] as const;
export type Command = (typeof COMMANDS)[number];
export type Request =
  | { kind: "command"; command: Command }
  | { kind: "learn" }
  | { kind: "confirm"; verdict: ConfirmVerdict; partId: string | undefined; region: DefectRegion | undefined }
  | { kind: "inspect"; partId: string | undefined };

/**
 * What a message asks of the detector. The part id comes from `partIdProperty` (the editor's
 * "Part id in", msg.partId by default), read by `partIdOf`.
 */
export function readRequest(
  msg: NodeMessageInFlow,
  partIdProperty = "partId",
  partIdOf: (msg: NodeMessageInFlow) => unknown = (m) => m[partIdProperty],
): Request {
  const command = readCommand(msg, COMMANDS);
  if (command !== undefined) return { kind: "command", command };
  const confirm = readConfirm(msg);
  if (confirm !== undefined) return { kind: "confirm", ...confirm, partId: readPartId(partIdOf(msg), partIdProperty) };
  if (asksToLearn(msg)) return { kind: "learn" };
  return { kind: "inspect", partId: readPartId(partIdOf(msg), partIdProperty) };
}

/** msg.payload answering a command. */
export async function runCommand(engine: DetectorEngine, command: Command): Promise<Record<string, unknown>> {
  switch (command) {
    case "fit":
      return { command, ...(await engine.fit()) };
    case "reset":
      return { command, deleted: await engine.reset() };
    case "rollback":
      return { command, model: await engine.rollback() };
    case "start-learning":
    case "stop-learning":
      engine.setLearning(command === "start-learning");
      return { command, learning: engine.learning.learning };
    case "recipe":
      // The switch itself happened before (the node's recipe cache): this says what the recipe holds.
      return { command, state: engine.state.kind, ...learningJson(engine.learning) };
  }
}

/** The learning state as plain JSON for the editor (GET /defect-detector/:id/state). */
export function learningJson(state: LearningState): Record<string, unknown> {
  const counts = state.counts;
  return {
    learning: state.learning,
    method: state.method,
    shotsLearned: counts?.shotsLearned ?? 0,
    defectsLearned: counts?.defectsLearned ?? 0,
    bankSize: counts?.good ?? 0,
    defectBank: counts?.defect ?? 0,
    labelledDefects: counts?.labelled ?? 0,
    pending: counts?.pending ?? 0,
    refreshing: counts?.refreshing ?? false,
    version: counts?.version ?? null,
    lastUpdate: counts?.updated ?? null,
    recentParts: state.recentParts,
    drift: state.drift,
    // Fitted on: images learned and, for few shots, their augmented variants (older files: unknown).
    trainedOn: state.model?.["trainedOn"] ?? null,
    variants: state.model?.["variants"] ?? null,
  };
}

/** Whether the drift ratio is above the configured warning ratio. */
export function driftHigh(state: LearningState, ratio: number): boolean {
  return state.drift?.ratio !== null && state.drift?.ratio !== undefined && state.drift.ratio > ratio;
}
