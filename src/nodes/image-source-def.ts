/**
 * Node definition of defect-image-source as the editor saves it, key for key the `defaults` of
 * image-source.html. Text inputs arrive as strings, so numbers are typed `string | number` and converted by
 * the parse functions.
 */
import type { NodeDef } from "node-red";

export interface ImageSourceNodeDef extends NodeDef {
  /** "file" | "folder" | "url" | "payload"; checked at deploy. */
  mode: string;
  path: string;
  /** "str": path is the path; "msg": path names the message property holding it. */
  pathType: string;
  folder: string;
  /** File mode: the folder every path must lie in ("" = any path). */
  root: string;
  pattern: string;
  emitExisting: boolean;
  /** Milliseconds a new file's size must stay unchanged before it is emitted. */
  stableMs: string | number;
  url: string;
  /** "str": url is the URL; "msg": url names the message property holding it. */
  urlType: string;
  /** Comma-separated hosts a URL from the message (and every redirect) may name; credentials go to message URLs only there. */
  allowedHosts: string;
  /** Milliseconds. */
  timeout: string | number;
  /** Megabytes. */
  maxDownload: string | number;
  /** Snapshot attempts after a failed one (timeouts, dropped connections, 5xx, garbage). */
  retries: string | number;
  /** Milliseconds before the first retry; doubled for each later one. */
  retryDelay: string | number;
  /** Megapixels. */
  maxPixels: string | number;
  /** Messages (or watched files) that may wait; see lib/queue. */
  queueSize: string | number;
  /** "drop-oldest" | "drop-newest" | "block". */
  overflow: string;
}

export interface ImageSourceCredentials {
  user?: string;
  password?: string;
}
