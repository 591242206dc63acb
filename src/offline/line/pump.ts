/** Keeping a number of images in flight through the line, and turning caught errors into failures. */
import { DefectError } from "../../lib/errors";
import { LineFailure } from "./failure";
import { describeCaught, type Outcome } from "./tap";

export interface PumpOptions<T> {
  window: number;
  send(index: number): Promise<Outcome<T>>;
  /** After each outcome, before the next image goes in (one-at-a-time phases only). */
  after?(index: number, outcome: Outcome<T>): Promise<void>;
  /** Stop sending at the first caught error. */
  failFast: boolean;
}

/** Sends `count` images keeping `window` in flight; outcomes in input order. */
export async function pump<T>(count: number, options: PumpOptions<T>): Promise<Array<Outcome<T> | undefined>> {
  const outcomes: Array<Outcome<T> | undefined> = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const outcome = await options.send(index);
      outcomes[index] = outcome;
      if (outcome.kind === "caught" && options.failFast) next = count;
      if (options.after !== undefined) await options.after(index, outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.window, count) }, worker));
  return outcomes;
}

/** Every outcome a result, or the first failure as an error naming the file. */
export function results<T>(
  outcomes: ReadonlyArray<Outcome<T> | undefined>,
  files: readonly string[],
  phase: string,
): Array<Extract<Outcome<T>, { kind: "result" }>> {
  const done: Array<Extract<Outcome<T>, { kind: "result" }>> = [];
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome === undefined) continue;
    if (outcome.kind !== "caught") {
      done.push(outcome);
      continue;
    }
    const message = `${phase}: ${describeCaught(outcome, files[i] ?? "?")}`;
    // A node refusing its settings at deploy refuses every message: a wrong command line, not a failed run.
    throw outcome.code === "invalidOption" ? new DefectError("invalidOption", message, { phase }) : new LineFailure(message);
  }
  if (done.length !== files.length) throw new LineFailure(`${phase}: ${files.length - done.length} of ${files.length} images did not come out of the line`);
  return done;
}
