/**
 * The part a verdict message is about, for the nodes that bring several messages of one part
 * together (join views). The part id the record carries (msg.result.partId: the detector's *Part
 * id in*, handed on by the threshold node) comes first, then msg.payload.partId (a detector's
 * payload, or a hand-made verdict), then msg.partId. A number and its text name the same part.
 */
import { readIdentifier } from "./identifier";
import { isRecord, type MessageView } from "./record";
import { readResultRef } from "./result";

/** The part id, or undefined when the message names none; invalidOption for one that is neither text nor a number. */
export function readPartId(msg: MessageView): string | undefined {
  const recorded = readResultRef(msg).partId;
  if (recorded !== null) return recorded;
  const handed = isRecord(msg.payload) ? readIdentifier(msg.payload["partId"], "payload.partId") : undefined;
  return handed ?? readIdentifier(msg.partId, "partId");
}
