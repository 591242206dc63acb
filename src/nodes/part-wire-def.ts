/** Node definition of defect-part-wire as the editor saves it, key for key the `defaults` of part-wire.html. */
import type { NodeDef } from "node-red";

export interface PartWireNodeDef extends NodeDef {
  /** "part-out" (line: image to MQTT part) | "part-in" (worker: MQTT part to image) | "result-out" (worker: verdict to MQTT result). */
  mode: string;
  /** Topic set on what is published; empty: msg.topic is kept. */
  topic: string;
  /** The worker's name in the results it publishes; empty: host name and process id. */
  worker: string;
}
