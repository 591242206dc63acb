/** msg.timings: every node adds the milliseconds it spent, keeping what the nodes before it recorded. */
import { finiteNumber, isRecord, type MessageFields, type MessageView } from "./record";

/** Adds one stage's duration to msg.timings. */
export function addTiming(msg: MessageFields, name: string, milliseconds: number): void {
  const timings = isRecord(msg["timings"]) ? msg["timings"] : {};
  timings[name] = milliseconds;
  msg["timings"] = timings;
}

/** The stages' durations on a message; entries that are not finite numbers are left out. */
export function readTimings(msg: MessageView): Record<string, number> {
  const timings: Record<string, number> = {};
  const value = msg.timings;
  if (!isRecord(value)) return timings;
  for (const [name, ms] of Object.entries(value)) {
    const finite = finiteNumber(ms);
    if (finite !== undefined) timings[name] = finite;
  }
  return timings;
}
