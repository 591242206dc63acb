/**
 * Nodes answer learning images, calibration samples and commands on the same wire as their
 * results. The nodes after them pass such answers on untouched instead of judging them as parts:
 * a learning answer has no score, a calibration answer no verdict, a command answer and the
 * answer to an operator's verdict neither.
 */
import { isRecord } from "./record";

/** True for `{ learning: true }`, `{ calibrating: true }`, `{ command: "..." }` and `{ confirmed: "good" | "defect" }` payloads. */
export function isControlAnswer(payload: unknown): boolean {
  return (
    isRecord(payload) &&
    (payload["learning"] === true || payload["calibrating"] === true || typeof payload["command"] === "string" || typeof payload["confirmed"] === "string")
  );
}
