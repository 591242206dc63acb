/**
 * What a message asks of a node besides being inspected: msg.command (each node has its own
 * commands), msg.learn / topic "learn", msg.calibrate and msg.confirm.
 */
import { DefectError } from "../errors";
import type { MessageFields, MessageView } from "./record";

/**
 * msg.command as one of `commands`; undefined when the message has none. Anything else present,
 * an empty string or null included, is refused: a command that does nothing would look as if it
 * had been carried out.
 */
export function readCommand<C extends string>(msg: MessageView, commands: readonly C[]): C | undefined {
  const value = msg.command;
  if (value === undefined) return undefined;
  const known = commands.find((c) => c === value);
  if (known === undefined) {
    throw new DefectError("invalidOption", `msg.command must be one of ${commands.join(", ")}, got ${JSON.stringify(value)}`, {
      option: "msg.command",
      value: String(value),
      expected: `one of ${commands.join(", ")}`,
    });
  }
  return known;
}

/** Removes msg.command once a node has carried it out, so the next node does not carry it out again. */
export function endCommand(msg: MessageFields): void {
  delete msg["command"];
}

/** msg.learn === true or msg.topic === "learn": an image to learn as good. */
export function asksToLearn(msg: MessageView): boolean {
  return msg.learn === true || msg.topic === "learn";
}

/** msg.calibrate === true: a calibration sample for the threshold node. */
export function isCalibrationSample(msg: MessageView): boolean {
  return msg.calibrate === true;
}

/**
 * Messages that teach the line (learning, calibration, commands, verdicts): the nodes queue them
 * apart from inspections, so overload never changes what is learned or calibrated.
 */
export function teachesTheLine(msg: MessageView): boolean {
  return asksToLearn(msg) || isCalibrationSample(msg) || msg.command !== undefined || msg.confirm !== undefined;
}
