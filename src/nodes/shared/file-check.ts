/**
 * GET /defect-detection/file-check?path=<path>: whether a path typed in an edit dialog exists,
 * resolved as the runtime resolves it (relative paths start at the user directory), so the
 * dialog can say which file or folder is missing before a deploy fails with modelNotFound or
 * folderNotFound. It needs Node-RED's own "flows.write": only users who may deploy flows (and
 * so could read the host's files anyway, e.g. with a file-in node) learn what exists on the host.
 */
import type { NodeAPI } from "node-red";
import { stat } from "node:fs/promises";
import { resolveSourcePath } from "../../lib/source/read-file";
import { baseDirectory } from "./settings";

export const FILE_CHECK_ROUTE = "/defect-detection/file-check";
const HTTP_BAD_REQUEST = 400;
/** Longer than any real path; bounds what one request can ask for. */
const MAX_PATH_LENGTH = 4096;

export interface FileCheck {
  /** The absolute path the runtime would open. */
  path: string;
  exists: boolean;
  kind: "file" | "folder" | null;
}

export async function checkPath(path: string, baseDir: string): Promise<FileCheck> {
  const absolute = resolveSourcePath(path, baseDir);
  try {
    const found = await stat(absolute);
    return { path: absolute, exists: true, kind: found.isDirectory() ? "folder" : "file" };
  } catch {
    return { path: absolute, exists: false, kind: null };
  }
}

const servedApps = new WeakSet<object>();

/** Registered by every node that has a path field; served once per admin app. */
export function registerFileCheck(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  if (servedApps.has(app)) return;
  servedApps.add(app);
  app.get(FILE_CHECK_ROUTE, RED.auth.needsPermission("flows.write"), (req, res) => {
    const raw = req.query["path"];
    const path = typeof raw === "string" ? raw.trim() : "";
    if (path === "" || path.length > MAX_PATH_LENGTH || path.includes("\0")) {
      res.status(HTTP_BAD_REQUEST).json({ error: "path must be a non-empty file path" });
      return;
    }
    void checkPath(path, baseDirectory(RED)).then((check) => res.json(check));
  });
}
