/**
 * Node definition of defect-vision-station as the editor saves it, key for key the `defaults` of
 * vision-station.html. Numbers arrive as strings.
 */
import type { NodeDef } from "node-red";

export interface VisionStationNodeDef extends NodeDef {
  /** TCP port of the OPC UA server (0: any free port). */
  port: string | number;
  /** Address to listen on; empty for every interface. */
  host: string;
  /** Endpoint path, e.g. /UA/DefectVisionStation. */
  path: string;
  /** Recipe (product) ids, one per line or comma separated. */
  recipes: string;
  /** Results kept for GetResultById and GetResultListFiltered. */
  maxResults: string | number;
}
