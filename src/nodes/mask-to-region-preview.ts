/**
 * The editor's overlay preview: GET /defect-mask-to-region/:id/preview (permission
 * "defect-mask-to-region.read") answers the last overlay of a deployed node as a small JPEG
 * (at most PREVIEW_MAX_SIDE px, PREVIEW_MAX_BYTES). Only the last overlay Buffer is kept, in
 * memory, per node; the preview is made on request and cached until the next overlay, so
 * inspections pay nothing for it and nothing is pushed over the editor's websocket.
 */
import type { Node, NodeAPI } from "node-red";
import { renderPreview } from "../lib/regions";

const HTTP_NO_CONTENT = 204;
const HTTP_NOT_FOUND = 404;
const HTTP_SERVER_ERROR = 500;

interface LastOverlay {
  overlay: Buffer;
  preview?: Promise<Buffer>;
}

const lastOverlays = new WeakMap<Node, LastOverlay>();
/** Nodes that are deployed and may show a preview (even before their first overlay). */
const previewable = new WeakSet<Node>();
const servedApps = new WeakSet<object>();

export function attachPreview(node: Node): void {
  previewable.add(node);
}

/** Keeps `overlay` (or forgets the last one when undefined: it would show the wrong regions). */
export function rememberOverlay(node: Node, overlay: Buffer | undefined): void {
  if (overlay === undefined) lastOverlays.delete(node);
  else lastOverlays.set(node, { overlay });
}

export function detachPreview(node: Node): void {
  previewable.delete(node);
  lastOverlays.delete(node);
}

export function registerPreviewAdmin(RED: NodeAPI, type: string): void {
  const app = RED.httpAdmin;
  if (servedApps.has(app)) return;
  servedApps.add(app);
  app.get(`/${type}/:id/preview`, RED.auth.needsPermission(`${type}.read`), (req, res) => {
    const id = req.params["id"];
    const node = RED.nodes.getNode(typeof id === "string" ? id : "") as Node | null | undefined;
    if (node === null || node === undefined || node.type !== type || !previewable.has(node)) {
      res.status(HTTP_NOT_FOUND).json({ error: `no deployed ${type} node with id ${String(id)}` });
      return;
    }
    const last = lastOverlays.get(node);
    if (last === undefined) {
      // Deployed, but no overlay yet (or overlays are off): the dialog says so.
      res.status(HTTP_NO_CONTENT).end();
      return;
    }
    last.preview ??= renderPreview(last.overlay);
    last.preview.then(
      (jpeg) => {
        res.set({ "Content-Type": "image/jpeg", "Cache-Control": "no-store" });
        res.send(jpeg);
      },
      (error: unknown) => {
        res.status(HTTP_SERVER_ERROR).json({ error: error instanceof Error ? error.message : String(error) });
      },
    );
  });
}
