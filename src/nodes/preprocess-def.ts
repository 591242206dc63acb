/**
 * Node definition of defect-preprocess as the editor saves it, key for key the `defaults` of
 * preprocess.html. Text inputs arrive as strings, so numbers are typed `string | number` and converted by
 * the parse functions.
 */
import type { NodeDef } from "node-red";

export interface PreprocessNodeDef extends NodeDef {
  /** "imagenet" | "yolo" | "none"; empty fields below take the preset's value. */
  preset: string;
  width: string | number;
  height: string | number;
  /**
   * "stretch" | "letterbox" | "center-crop". Not `resize`: the editor keeps its own `resize`
   * flag on every node it draws and would deploy that boolean in its place.
   */
  resizeMode: string;
  kernel: string;
  padValue: string | number;
  /** "x,y,w,h" in source pixels, or "" for the whole image. */
  roi: string;
  color: string;
  layout: string;
  scale: string | number;
  /** Comma-separated, one value a channel. */
  mean: string;
  std: string;
  /** JSON: recipe name -> that recipe's options (the keys of msg.preprocess); "" for none. */
  recipes: string;
  /** Megapixels. */
  maxPixels: string | number;
  /** Images that may wait while one is decoded. */
  queueSize: string | number;
  /** "drop-oldest" | "drop-newest" | "block" (block refuses like drop-newest: wires cannot wait). */
  overflow: string;
}
