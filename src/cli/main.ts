#!/usr/bin/env node
/**
 * The `defect-detection` command. Each subcommand lives in its own file and is registered in
 * COMMANDS; commands without a handler are listed as coming so the help shows the road map.
 */
import { DefectError, describeError } from "../lib/errors";
import { LineFailure } from "../offline/line/failure";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliIo, type CommandHandler } from "./args";
import { BANK_SUMMARY, runBank } from "./bank";
import { BENCH_SUMMARY, runBench } from "./bench";
import { EVAL_SUMMARY, runEval } from "./eval";
import { LINE_SUMMARY, runLineCommand } from "./line";
import { PREDICT_SUMMARY, runPredict } from "./predict";
import { SYNTH_SUMMARY, runSynth } from "./synth";

export type { CliIo } from "./args";

const PROGRAM = "defect-detection";

interface Command {
  summary: string;
  /** Absent for commands announced but not yet available. */
  run?: CommandHandler;
}

const COMMANDS = new Map<string, Command>([
  ["synth", { summary: SYNTH_SUMMARY, run: runSynth }],
  ["eval", { summary: EVAL_SUMMARY, run: runEval }],
  ["line", { summary: LINE_SUMMARY, run: runLineCommand }],
  ["predict", { summary: PREDICT_SUMMARY, run: runPredict }],
  ["bench", { summary: BENCH_SUMMARY, run: runBench }],
  ["bank", { summary: BANK_SUMMARY, run: runBank }],
]);

const HELP_WORDS = new Set(["help", "--help", "-h"]);

export function usage(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((name) => name.length));
  const lines = [...COMMANDS].map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return (
    `Usage: ${PROGRAM} <command> [options]\n\n` + `Commands:\n${lines.join("\n")}\n\n` + `Run "${PROGRAM} <command> --help" for the options of a command.\n`
  );
}

/** Runs one command line (without the node and script paths) and returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(usage());
    return EXIT_USAGE;
  }
  if (HELP_WORDS.has(name)) {
    // "help synth" is the same as "synth --help".
    const topic = rest[0];
    if (topic !== undefined && COMMANDS.get(topic)?.run) return runCli([topic, "--help"], io);
    io.stdout.write(usage());
    return EXIT_OK;
  }
  const command = COMMANDS.get(name);
  if (!command) {
    io.stderr.write(`${PROGRAM}: unknown command "${name}". Run "${PROGRAM} --help" to list the commands.\n`);
    return EXIT_USAGE;
  }
  if (!command.run) {
    io.stderr.write(`${PROGRAM}: the "${name}" command is not available yet in this version.\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return reportError(`${PROGRAM} ${name}`, error, io);
  }
}

/** One line on stderr: the user needs the reason, not our stack. */
function reportError(prefix: string, error: unknown, io: CliIo): number {
  const badArguments = error instanceof UsageError || (error instanceof DefectError && error.code === "invalidOption");
  if (badArguments) {
    io.stderr.write(`${prefix}: ${describeError(error)} (see "${prefix} --help")\n`);
    return EXIT_USAGE;
  }
  const known = error instanceof DefectError || error instanceof LineFailure;
  io.stderr.write(`${prefix}: ${known ? error.message : `unexpected error: ${describeError(error)}`}\n`);
  return EXIT_FAILURE;
}

if (require.main === module) {
  void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
    process.exitCode = code;
  });
}
