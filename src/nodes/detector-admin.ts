/**
 * The editor's view of learning on the line: GET /defect-detector/:id/state (shots learned,
 * defects learned, bank size, last update, drift) needs "defect-detector.read"; POST
 * /defect-detector/:id/learning with { action: start | stop | reset | rollback } needs
 * "defect-detector.write". Served once per admin app for every deployed detector; a node is
 * found by its object, so a redeployed node is found and a closed one is not.
 */
import type { Node, NodeAPI } from "node-red";
import { isDefectError } from "../lib/errors";
import { translateError } from "./shared/errors";
import { isRecord } from "./shared/message";

export const LEARNING_ACTIONS = ["start", "stop", "reset", "rollback"] as const;
export type LearningAction = (typeof LEARNING_ACTIONS)[number];

export interface DetectorController {
  state(): Record<string, unknown>;
  act(action: LearningAction): Promise<Record<string, unknown>>;
}

const HTTP_BAD_REQUEST = 400;
const HTTP_NOT_FOUND = 404;
/** The request was fine but the node refuses it (e.g. nothing to roll back to). */
const HTTP_CONFLICT = 409;
const HTTP_SERVER_ERROR = 500;

const controllers = new WeakMap<Node, DetectorController>();
const servedApps = new WeakSet<object>();

export function attachDetectorController(node: Node, controller: DetectorController): void {
  controllers.set(node, controller);
}

export function detachDetectorController(node: Node): void {
  controllers.delete(node);
}

export function registerDetectorAdmin(RED: NodeAPI, type: string): void {
  const app = RED.httpAdmin;
  if (servedApps.has(app)) return;
  servedApps.add(app);
  const find = (param: unknown): DetectorController | undefined => {
    const node = RED.nodes.getNode(typeof param === "string" ? param : "") as Node | null | undefined;
    return node !== null && node !== undefined && node.type === type ? controllers.get(node) : undefined;
  };
  const notFound = (id: unknown): { error: string } => ({ error: `no deployed ${type} node with id ${String(id)}` });

  app.get(`/${type}/:id/state`, RED.auth.needsPermission(`${type}.read`), (req, res) => {
    const controller = find(req.params["id"]);
    if (controller === undefined) res.status(HTTP_NOT_FOUND).json(notFound(req.params["id"]));
    else res.json(controller.state());
  });

  app.post(`/${type}/:id/learning`, RED.auth.needsPermission(`${type}.write`), (req, res) => {
    const controller = find(req.params["id"]);
    if (controller === undefined) {
      res.status(HTTP_NOT_FOUND).json(notFound(req.params["id"]));
      return;
    }
    const body: unknown = req.body;
    const action = LEARNING_ACTIONS.find((a) => isRecord(body) && a === body["action"]);
    if (action === undefined) {
      res.status(HTTP_BAD_REQUEST).json({ error: `action must be one of ${LEARNING_ACTIONS.join(", ")}` });
      return;
    }
    controller.act(action).then(
      (result) => res.json(result),
      (error: unknown) => {
        const translated = translateError(RED, type, error);
        res.status(isDefectError(error) ? HTTP_CONFLICT : HTTP_SERVER_ERROR).json({ code: translated.code, error: translated.message });
      },
    );
  });
}
