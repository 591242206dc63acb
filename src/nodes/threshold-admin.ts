/**
 * The editor's "calibrate now" and "forget calibration" buttons: POST
 * /defect-threshold/:id/calibrate with { action }. One route a runtime serves every deployed
 * threshold node; it finds a node's controller by the node object, so a redeployed node is
 * found and a closed one is not.
 */
import type { Node, NodeAPI } from "node-red";
import { isDefectError } from "../lib/errors";
import { translateError } from "./shared/errors";
import { isRecord } from "./shared/message";

export const ADMIN_ACTIONS = ["calibrate", "reset"] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** What a node does for the endpoint; the result is answered as JSON. */
export type AdminController = (action: AdminAction) => Promise<Record<string, unknown>>;

const HTTP_BAD_REQUEST = 400;
const HTTP_NOT_FOUND = 404;
/** The request was fine but the node's state refuses it (e.g. nothing to calibrate from). */
const HTTP_CONFLICT = 409;
const HTTP_SERVER_ERROR = 500;

const controllers = new WeakMap<Node, AdminController>();
/** Admin apps that already have the route: registering twice would answer every request twice. */
const servedApps = new WeakSet<object>();

export function attachController(node: Node, controller: AdminController): void {
  controllers.set(node, controller);
}

export function detachController(node: Node): void {
  controllers.delete(node);
}

function readAction(body: unknown): AdminAction | undefined {
  const action = isRecord(body) ? body["action"] : undefined;
  return ADMIN_ACTIONS.find((a) => a === action);
}

/** Registers the route once per admin app (Node-RED may load the node module more than once). */
export function registerAdminEndpoint(RED: NodeAPI, type: string): void {
  const app = RED.httpAdmin;
  if (servedApps.has(app)) return;
  servedApps.add(app);
  app.post(`/${type}/:id/calibrate`, RED.auth.needsPermission(`${type}.write`), (req, res) => {
    const param: unknown = req.params["id"];
    const id = typeof param === "string" ? param : "";
    // getNode finds nodes of every type; only ours have a controller, and only while deployed.
    const node = RED.nodes.getNode(id) as Node | null | undefined;
    const controller = node !== null && node !== undefined && node.type === type ? controllers.get(node) : undefined;
    if (controller === undefined) {
      res.status(HTTP_NOT_FOUND).json({ error: `no deployed ${type} node with id ${id}` });
      return;
    }
    const action = readAction(req.body);
    if (action === undefined) {
      res.status(HTTP_BAD_REQUEST).json({ error: `action must be one of ${ADMIN_ACTIONS.join(", ")}` });
      return;
    }
    controller(action).then(
      (result) => res.json(result),
      (error: unknown) => {
        const translated = translateError(RED, type, error);
        res.status(isDefectError(error) ? HTTP_CONFLICT : HTTP_SERVER_ERROR).json({ code: translated.code, error: translated.message });
      },
    );
  });
}
