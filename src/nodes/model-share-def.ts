/** Node definition of defect-model-share as the editor saves it, key for key the `defaults` of model-share.html. */
import type { NodeDef } from "node-red";

export interface ModelShareNodeDef extends NodeDef {
  /** "publish" (the line: the detector's saved model to the broker) | "receive" (a worker: a shared model into its detector). */
  mode: string;
  /** Id of the defect-detector on this runtime whose model is read (publish) or replaced (receive). */
  detector: string;
  /** The worker's name in its status answers; empty: host name and process id. */
  worker: string;
  /** Receive: the parts topic a dynamic `mqtt in` subscribes to once this worker has a model; empty: none. */
  subscribe: string;
}
