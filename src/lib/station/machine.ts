/**
 * The state machine of an OPC 40100 VisionSystem, as pure transitions: each method takes the
 * current state and answers with a status and, when Good, the next state. The transitions are the
 * ones VisionStateMachineType and VisionAutomaticModeStateMachineType declare in the nodeset
 * (PreoperationalToInitialized, InitializedToReadyRecipe, ReadyToSingleExecution, ...); a call
 * that has no transition from the current state is BadInvalidState, as OPC 40100-1 specifies for
 * every one of these methods.
 */
import type { AutomaticState, MachineState, MethodStatus } from "./types";

export type Step = { status: "Good"; next: MachineState } | { status: Exclude<MethodStatus, "Good">; next?: undefined };

const INVALID_STATE = { status: "BadInvalidState" } as const;

export function initialMachine(): MachineState {
  return { state: "Preoperational", automatic: null, recipe: null, job: null };
}

function good(next: MachineState): Step {
  return { status: "Good", next };
}

function isExecuting(machine: MachineState): boolean {
  return machine.automatic === "SingleExecution" || machine.automatic === "ContinuousExecution";
}

/** Preoperational -> Operational (Initialized): the only way into automatic mode. */
export function selectModeAutomatic(machine: MachineState): Step {
  if (machine.state !== "Preoperational") return INVALID_STATE;
  return good({ state: "Operational", automatic: "Initialized", recipe: null, job: null });
}

/** Preoperational, Operational or Error -> Halted; a running job ends with it. */
export function halt(machine: MachineState): Step {
  if (machine.state === "Halted") return INVALID_STATE;
  return good({ state: "Halted", automatic: null, recipe: null, job: null });
}

/** Halted, Error or Operational -> Preoperational; the prepared recipe is unprepared, a running job ends. */
export function reset(machine: MachineState): Step {
  if (machine.state === "Preoperational") return INVALID_STATE;
  return good(initialMachine());
}

/**
 * Initialized or Ready -> Ready with `recipe` prepared (one recipe at a time: a line inspects one
 * product; preparing another replaces it). Not while a job runs.
 */
export function prepareRecipe(machine: MachineState, recipe: string): Step {
  if (machine.state !== "Operational" || isExecuting(machine)) return INVALID_STATE;
  return good({ ...machine, automatic: "Ready", recipe });
}

/** Ready -> Initialized, for the recipe that is prepared (another one: BadInvalidArgument). */
export function unprepareRecipe(machine: MachineState, recipe: string): Step {
  if (machine.state !== "Operational" || machine.automatic !== "Ready") return INVALID_STATE;
  if (machine.recipe !== recipe) return { status: "BadInvalidArgument" };
  return good({ ...machine, automatic: "Initialized", recipe: null });
}

function start(machine: MachineState, to: AutomaticState, jobId: string, recipe: string | null): Step {
  if (machine.state !== "Operational" || machine.automatic !== "Ready") return INVALID_STATE;
  // A job runs the prepared recipe; naming another one is a wrong argument, naming none takes it.
  if (recipe !== null && recipe !== machine.recipe) return { status: "BadInvalidArgument" };
  return good({ ...machine, automatic: to, job: jobId });
}

/** Ready -> SingleExecution: one part is inspected, then the machine is Ready again. */
export function startSingleJob(machine: MachineState, jobId: string, recipe: string | null): Step {
  return start(machine, "SingleExecution", jobId, recipe);
}

/** Ready -> ContinuousExecution: parts are inspected until Stop or Abort. */
export function startContinuous(machine: MachineState, jobId: string, recipe: string | null): Step {
  return start(machine, "ContinuousExecution", jobId, recipe);
}

/** SingleExecution or ContinuousExecution -> Ready (Stop and Abort alike; they differ in what the flow is told). */
export function stopJob(machine: MachineState): Step {
  if (!isExecuting(machine)) return INVALID_STATE;
  return good({ ...machine, automatic: "Ready", job: null });
}

/** A result arrived: SingleExecution's job is done (SingleExecutionToReadyAuto); any other state stays. */
export function resultArrived(machine: MachineState): MachineState {
  if (machine.automatic !== "SingleExecution") return machine;
  return { ...machine, automatic: "Ready", job: null };
}

/** The flow reported a failure: Preoperational or Operational -> Error (the *ToErrorAuto transitions). */
export function failed(machine: MachineState): MachineState {
  if (machine.state === "Halted" || machine.state === "Error") return machine;
  return { state: "Error", automatic: null, recipe: null, job: null };
}
