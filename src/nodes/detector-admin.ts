/**
 * The editor's view of learning on the line: GET /defect-detector/:id/state (shots learned,
 * defects learned, bank size, last update, drift) needs "defect-detector.read"; POST
 * /defect-detector/:id/learning with { action: start | stop | reset | rollback } needs
 * "defect-detector.write". Served once per admin app for every deployed detector; a node is
 * found by its object, so a redeployed node is found and a closed one is not.
 */
import type { Node, NodeAPI } from "node-red";
import { answerAction, answerNotFound, DeployedNodes, HTTP_BAD_REQUEST, HTTP_CONFLICT, serveOnce } from "./shared/admin";
import { describeError } from "../lib/errors";
import { isRecord } from "../lib/message";

export const LEARNING_ACTIONS = ["start", "stop", "reset", "rollback"] as const;
export type LearningAction = (typeof LEARNING_ACTIONS)[number];

export interface DetectorController {
  state(): Promise<Record<string, unknown>>;
  act(action: LearningAction): Promise<Record<string, unknown>>;
}

const controllers = new DeployedNodes<DetectorController>();

export function attachDetectorController(node: Node, controller: DetectorController): void {
  controllers.attach(node, controller);
}

export function detachDetectorController(node: Node): void {
  controllers.detach(node);
}

export function registerDetectorAdmin(RED: NodeAPI, type: string): void {
  serveOnce(RED, `${type}/learning`, () => {
    RED.httpAdmin.get(`/${type}/:id/state`, RED.auth.needsPermission(`${type}.read`), (req, res) => {
      const controller = controllers.find(RED, type, req.params["id"]);
      if (controller === undefined) answerNotFound(res, type, req.params["id"]);
      else
        controller.state().then(
          (state) => res.json(state),
          (error: unknown) => res.status(HTTP_CONFLICT).json({ error: describeError(error) }),
        );
    });

    RED.httpAdmin.post(`/${type}/:id/learning`, RED.auth.needsPermission(`${type}.write`), (req, res) => {
      const controller = controllers.find(RED, type, req.params["id"]);
      if (controller === undefined) {
        answerNotFound(res, type, req.params["id"]);
        return;
      }
      const body: unknown = req.body;
      const action = LEARNING_ACTIONS.find((a) => isRecord(body) && a === body["action"]);
      if (action === undefined) {
        res.status(HTTP_BAD_REQUEST).json({ error: `action must be one of ${LEARNING_ACTIONS.join(", ")}` });
        return;
      }
      answerAction(RED, type, res, controller.act(action));
    });
  });
}
