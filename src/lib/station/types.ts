/**
 * The vision station's model of OPC 40100-1 (OPC UA for Machine Vision): the top-level states of
 * VisionStateMachineType and the sub-states of VisionAutomaticModeStateMachineType, the methods a
 * client calls, and the status codes the specification gives them. Plain data, no OPC UA library.
 */

/** VisionStateMachineType's states. */
export type SystemState = "Preoperational" | "Operational" | "Halted" | "Error";

/** VisionAutomaticModeStateMachineType's states, present while Operational in automatic mode. */
export type AutomaticState = "Initialized" | "Ready" | "SingleExecution" | "ContinuousExecution";

/**
 * The status a method call answers with: Good, or the Bad_ code OPC 40100-1 names for a call the
 * machine cannot take now (BadInvalidState) or for an argument it does not know (BadInvalidArgument,
 * BadNotFound for an unknown result).
 */
export type MethodStatus = "Good" | "BadInvalidState" | "BadInvalidArgument" | "BadNotFound";

/** The job commands a station hands to its flow: each starts, stops or aborts the image source. */
export type JobCommand = "StartSingleJob" | "StartContinuous" | "Stop" | "Abort";

export interface MachineState {
  state: SystemState;
  /** null unless Operational. */
  automatic: AutomaticState | null;
  /** The prepared recipe (a product id); null in Initialized and outside Operational. */
  recipe: string | null;
  /** The running job's id; null when no job runs. */
  job: string | null;
}

/** A job command for the flow: what to do, for which job, with which recipe (and part, when the client named one). */
export interface JobTrigger {
  command: JobCommand;
  jobId: string;
  recipe: string | null;
  partId: string | null;
}
