/**
 * The editor's overlay preview: GET /defect-mask-to-region/:id/preview (permission
 * "defect-mask-to-region.read") answers the last overlay of a deployed node as a small JPEG
 * (at most PREVIEW_MAX_SIDE px, PREVIEW_MAX_BYTES). Only the last overlay Buffer is kept, in
 * memory, per node; the preview is made on request and cached until the next overlay, so
 * inspections pay nothing for it and nothing is pushed over the editor's websocket.
 */
import type { Node, NodeAPI } from "node-red";
import { renderPreview } from "../lib/regions";
import { answerNotFound, DeployedNodes, HTTP_NO_CONTENT, HTTP_SERVER_ERROR, serveOnce } from "./shared/admin";

interface LastOverlay {
  overlay: Buffer;
  preview?: Promise<Buffer>;
}

/** Each deployed node's last overlay (none before the first: the dialog says so). */
const previews = new DeployedNodes<{ last?: LastOverlay }>();
const states = new WeakMap<Node, { last?: LastOverlay }>();

export function attachPreview(node: Node): void {
  const state = {};
  states.set(node, state);
  previews.attach(node, state);
}

/** Keeps `overlay` (or forgets the last one when undefined: it would show the wrong regions). */
export function rememberOverlay(node: Node, overlay: Buffer | undefined): void {
  const state = states.get(node);
  if (state === undefined) return;
  if (overlay === undefined) delete state.last;
  else state.last = { overlay };
}

export function detachPreview(node: Node): void {
  states.delete(node);
  previews.detach(node);
}

export function registerPreviewAdmin(RED: NodeAPI, type: string): void {
  serveOnce(RED, `${type}/preview`, () => {
    RED.httpAdmin.get(`/${type}/:id/preview`, RED.auth.needsPermission(`${type}.read`), (req, res) => {
      const state = previews.find(RED, type, req.params["id"]);
      if (state === undefined) {
        answerNotFound(res, type, req.params["id"]);
        return;
      }
      const last = state.last;
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
  });
}
