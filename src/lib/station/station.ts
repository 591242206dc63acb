/**
 * The vision station without OPC UA: the state machine, the recipes, the kept results and the job
 * ids, behind the calls an OPC 40100 client makes. Each call answers with the status the
 * specification names; Good calls tell the listener what changed (the state, a job command for
 * the flow, a result to publish). The OPC UA glue and the tests drive it alike.
 */
import * as machine from "./machine";
import { createRecipeBook, filterRecipes, type Page, type RecipeBook, type RecipeFilter } from "./recipes";
import { createResultStore, resultIdOf, type ResultFilter, type ResultStore, type StoredResult } from "./result-store";
import type { StationOptions } from "./options";
import type { JobCommand, JobTrigger, MachineState, MethodStatus } from "./types";
import type { ResultRecord } from "../message";

export interface StationListener {
  /** After every change of state (also within Operational). */
  stateChanged(state: MachineState): void;
  /** A job command for the flow. */
  job(trigger: JobTrigger): void;
  /** A result was filed: publish it (ResultReady). */
  result(result: StoredResult): void;
}

export interface StartArguments {
  /** The recipe the client names; "" for the prepared one. */
  recipe: string;
  /** The part the client names; "" for none. */
  partId: string;
}

export interface Station {
  readonly state: MachineState;
  readonly recipes: RecipeBook;
  readonly results: ResultStore;
  selectModeAutomatic(): MethodStatus;
  halt(): MethodStatus;
  reset(): MethodStatus;
  /** BadInvalidArgument for a recipe the station does not know. */
  prepareRecipe(recipe: string): MethodStatus;
  unprepareRecipe(recipe: string): MethodStatus;
  startSingleJob(args: StartArguments): { status: MethodStatus; jobId: string };
  startContinuous(args: StartArguments): { status: MethodStatus; jobId: string };
  stop(): MethodStatus;
  abort(): MethodStatus;
  listRecipes(filter: RecipeFilter): Page<string>;
  /** Files a verdict's record and publishes it; SingleExecution becomes Ready. */
  addResult(record: ResultRecord): StoredResult;
  /** A recipe seen on a message joins the list. */
  seeRecipe(recipe: string): void;
  /** The flow reported an error: Operational or Preoperational -> Error; a running job is aborted. */
  fail(): void;
  findResult(resultId: string): StoredResult | undefined;
  listResults(filter: ResultFilter): Page<StoredResult>;
}

/**
 * Job ids: the start time (base 36) and a counter, so ids of an earlier deploy or restart are not
 * given out again (results are filed by job id too).
 */
function jobIds(now: () => number): { peek(): string; take(): void } {
  const prefix = now().toString(36);
  let next = 1;
  return {
    peek: () => `${prefix}-${next}`,
    take: () => void next++,
  };
}

export function createStation(options: Pick<StationOptions, "recipes" | "maxResults">, listener: StationListener, now: () => number = Date.now): Station {
  let state = machine.initialMachine();
  const recipes = createRecipeBook(options.recipes);
  const results = createResultStore(options.maxResults);
  const nextJobId = jobIds(now);

  function apply(step: machine.Step, trigger?: (before: MachineState, after: MachineState) => JobTrigger | null): MethodStatus {
    if (step.status !== "Good") return step.status;
    const before = state;
    state = step.next;
    listener.stateChanged(state);
    const job = trigger?.(before, state);
    if (job) listener.job(job);
    return "Good";
  }

  /** Halt, Reset or an error during a job: the flow is told to abort it, so a continuous source stops. */
  const abortRunning = (before: MachineState): JobTrigger | null =>
    before.job === null ? null : { command: "Abort", jobId: before.job, recipe: before.recipe, partId: null };

  function start(command: JobCommand, step: (m: MachineState, jobId: string, recipe: string | null) => machine.Step, args: StartArguments) {
    // Numbered only when the job starts: refused calls use no number.
    const jobId = nextJobId.peek();
    const status = apply(step(state, jobId, args.recipe === "" ? null : args.recipe), (_before, after) => ({
      command,
      jobId,
      recipe: after.recipe,
      partId: args.partId === "" ? null : args.partId,
    }));
    if (status !== "Good") return { status, jobId: "" };
    nextJobId.take();
    return { status, jobId };
  }

  function end(command: "Stop" | "Abort"): MethodStatus {
    return apply(machine.stopJob(state), (before) => ({ command, jobId: before.job ?? "", recipe: before.recipe, partId: null }));
  }

  return {
    get state() {
      return state;
    },
    recipes,
    results,
    selectModeAutomatic: () => apply(machine.selectModeAutomatic(state)),
    halt: () => apply(machine.halt(state), abortRunning),
    reset: () => apply(machine.reset(state), abortRunning),
    prepareRecipe(recipe) {
      if (!recipes.has(recipe)) return "BadInvalidArgument";
      return apply(machine.prepareRecipe(state, recipe));
    },
    unprepareRecipe: (recipe) => apply(machine.unprepareRecipe(state, recipe)),
    startSingleJob: (args) => start("StartSingleJob", machine.startSingleJob, args),
    startContinuous: (args) => start("StartContinuous", machine.startContinuous, args),
    stop: () => end("Stop"),
    abort: () => end("Abort"),
    listRecipes: (filter) => filterRecipes(recipes.list(), state.recipe, filter),
    addResult(record) {
      if (record.recipe !== null) recipes.see(record.recipe);
      const stored: StoredResult = { resultId: resultIdOf(record), jobId: record.jobId ?? state.job ?? "", record };
      results.add(stored);
      const next = machine.resultArrived(state);
      if (next !== state) {
        state = next;
        listener.stateChanged(state);
      }
      listener.result(stored);
      return stored;
    },
    seeRecipe(recipe) {
      recipes.see(recipe);
    },
    fail() {
      const next = machine.failed(state);
      if (next === state) return;
      const before = state;
      state = next;
      listener.stateChanged(state);
      const job = abortRunning(before);
      if (job) listener.job(job);
    },
    findResult: (resultId) => results.get(resultId),
    listResults: (filter) => results.list(filter),
  };
}
