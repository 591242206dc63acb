/**
 * The defect-mask-to-region node as the editor saves it, key for key the `defaults` of
 * mask-to-region.html. Text inputs arrive as strings and are converted by parseRegionOptions.
 */
import type { NodeDef } from "node-red";

export interface MaskToRegionNodeDef extends NodeDef {
  /** "4" | "8". */
  connectivity: string | number;
  /** Original image pixels. */
  minArea: string | number;
  maxCount: string | number;
  /** "none" | "jpeg" | "png". */
  overlay: string;
  /** Pixels. */
  overlayWidth: string | number;
  /** 0..1. */
  opacity: string | number;
}
