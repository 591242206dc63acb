/** What every subcommand shares: its output streams, exit codes and argument checks. */
import { parseArgs, type ParseArgsConfig } from "node:util";

export interface TextSink {
  write(text: string): unknown;
}

/** Streams a command writes to; process.stdout/stderr in the binary, buffers in tests. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
}

export type CommandHandler = (args: string[], io: CliIo) => Promise<number>;

export const EXIT_OK = 0;
/** The command ran but failed (a file could not be written, a model did not load). */
export const EXIT_FAILURE = 1;
/** The command line itself was wrong; nothing was done. */
export const EXIT_USAGE = 2;

/** A wrong command line: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
type StrictConfig<T extends OptionsConfig> = { args: string[]; options: T; strict: true; allowPositionals: false };
/** The typed option values util.parseArgs gives for `T` (@types/node does not export the name). */
export type ParsedOptions<T extends OptionsConfig> = ReturnType<typeof parseArgs<StrictConfig<T>>>["values"];

/** util.parseArgs in strict mode, with its errors turned into one-line usage errors. */
export function parseOptions<T extends OptionsConfig>(args: string[], options: T): ParsedOptions<T> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(firstSentence(error instanceof Error ? error.message : String(error)));
  }
}

/** Node's parse messages carry long hints after the first sentence, which alone names the problem. */
function firstSentence(message: string): string {
  const line = message.split("\n")[0] ?? message;
  return (line.split(". ")[0] ?? line).replace(/\.$/, "");
}

/** A whole number within [min, max], or undefined when the option was not given. */
export function parseIntegerOption(value: string | undefined, option: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const number = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`${option} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** A comma-separated list whose entries must all be in `allowed`; undefined when not given. */
export function parseListOption<T extends string>(value: string | undefined, option: string, allowed: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) throw new UsageError(`${option} needs at least one of: ${allowed.join(", ")}`);
  for (const entry of entries) {
    if (!(allowed as readonly string[]).includes(entry)) {
      throw new UsageError(`unknown ${option} entry "${entry}"; expected one of: ${allowed.join(", ")}`);
    }
  }
  return entries as T[];
}
