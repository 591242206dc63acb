/** Node definition of defect-join-views as the editor saves it, key for key the `defaults` of join-views.html. Numbers arrive as strings. */
import type { NodeDef } from "node-red";

export interface JoinViewsNodeDef extends NodeDef {
  /** The expected view names, separated by commas ("top,side"). */
  views: string;
  /** The msg property naming a message's view ("view"); msg.topic when it is absent. */
  viewProperty: string;
  /** Milliseconds from a part's first view until it is judged without its missing views. */
  timeout: string | number;
  /** Parts waiting for views at most. */
  maxParts: string | number;
}
