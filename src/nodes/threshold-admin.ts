/**
 * The editor's "calibrate now" and "forget calibration" buttons: POST
 * /defect-threshold/:id/calibrate with { action }. One route a runtime serves every deployed
 * threshold node; it finds a node's controller by the node object, so a redeployed node is
 * found and a closed one is not.
 */
import type { Node, NodeAPI } from "node-red";
import { answerAction, answerNotFound, DeployedNodes, HTTP_BAD_REQUEST, serveOnce } from "./shared/admin";
import { isRecord } from "../lib/message";

export const ADMIN_ACTIONS = ["calibrate", "reset"] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** What a node does for the endpoint; the result is answered as JSON. */
export type AdminController = (action: AdminAction) => Promise<Record<string, unknown>>;

const controllers = new DeployedNodes<AdminController>();

export function attachController(node: Node, controller: AdminController): void {
  controllers.attach(node, controller);
}

export function detachController(node: Node): void {
  controllers.detach(node);
}

function readAction(body: unknown): AdminAction | undefined {
  const action = isRecord(body) ? body["action"] : undefined;
  return ADMIN_ACTIONS.find((a) => a === action);
}

/** Registers the route once per admin app (Node-RED may load the node module more than once). */
export function registerAdminEndpoint(RED: NodeAPI, type: string): void {
  serveOnce(RED, `${type}/calibrate`, () => {
    RED.httpAdmin.post(`/${type}/:id/calibrate`, RED.auth.needsPermission(`${type}.write`), (req, res) => {
      const controller = controllers.find(RED, type, req.params["id"]);
      if (controller === undefined) {
        answerNotFound(res, type, req.params["id"] ?? "");
        return;
      }
      const action = readAction(req.body);
      if (action === undefined) {
        res.status(HTTP_BAD_REQUEST).json({ error: `action must be one of ${ADMIN_ACTIONS.join(", ")}` });
        return;
      }
      answerAction(RED, type, res, controller(action));
    });
  });
}
