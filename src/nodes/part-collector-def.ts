/** Node definition of defect-part-collector as the editor saves it, key for key the `defaults` of part-collector.html. */
import type { NodeDef } from "node-red";

export interface PartCollectorNodeDef extends NodeDef {
  /** Seconds a publication of a part waits for its result. */
  timeout: string | number;
  /** Publications after the first before a part counts as lost. */
  retries: string | number;
  /** Parts waiting for their result at most. */
  maxPending: string | number;
}
