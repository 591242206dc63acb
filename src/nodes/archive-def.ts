/**
 * The defect-archive node as the editor saves it, key for key the `defaults` of archive.html.
 * Numbers arrive as strings and are converted by parseArchiveOptions.
 */
import type { NodeDef } from "node-red";

export interface ArchiveNodeDef extends NodeDef {
  /** Relative paths start at the Node-RED user directory. */
  folder: string;
  /** Archive 1 OK part in N; 0: none. */
  okEvery: string | number;
  maxCount: string | number;
  maxMb: string | number;
  /** 0: no age limit. */
  maxDays: string | number;
  minFreeMb: string | number;
  rememberParts: string | number;
}
