/**
 * A job command the vision station hands to its flow (OPC 40100's StartSingleJob, StartContinuous,
 * Stop, Abort): msg.topic names the command, msg.jobId the job and msg.recipe the prepared recipe
 * (the product id the line changes over to), so an image source, a detector and the threshold node
 * downstream carry them into the result record (`jobId`, `recipe`). msg.partId when the client named
 * the part. Properties the station has no value for are left off, never set to null.
 */
import type { MessageFields } from "./record";

export interface JobMessage {
  command: string;
  jobId: string;
  recipe: string | null;
  partId: string | null;
}

export function writeJobMessage(msg: MessageFields, job: JobMessage): void {
  msg["topic"] = job.command;
  msg["payload"] = job.command;
  msg["jobId"] = job.jobId;
  if (job.recipe !== null) msg["recipe"] = job.recipe;
  if (job.partId !== null) msg["partId"] = job.partId;
}
