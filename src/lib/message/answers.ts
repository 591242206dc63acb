/**
 * Nodes answer learning images, calibration samples and commands on the same wire as their
 * results. The nodes after them pass such answers on untouched instead of judging them as parts:
 * a learning answer has no score, a calibration answer no verdict, a command answer and the
 * answer to an operator's verdict neither.
 */
import { isRecord } from "./record";

/**
 * The detector's own answer on a message: msg.payload, or msg.detection where a threshold node
 * calibrated from the scores the answer handed over and answered for it (`{ calibrating: true }`).
 */
export function detectorAnswerOf(msg: Readonly<Record<string, unknown>>): { answer: unknown; calibrated: boolean } {
  const payload = msg["payload"];
  const calibrated = isRecord(payload) && payload["calibrating"] === true && isRecord(msg["detection"]);
  return { answer: calibrated ? msg["detection"] : payload, calibrated };
}

/** True for `{ learning: true }`, `{ calibrating: true }`, `{ command: "..." }` and `{ confirmed: "good" | "defect" }` payloads. */
export function isControlAnswer(payload: unknown): boolean {
  return (
    isRecord(payload) &&
    (payload["learning"] === true || payload["calibrating"] === true || typeof payload["command"] === "string" || typeof payload["confirmed"] === "string")
  );
}
