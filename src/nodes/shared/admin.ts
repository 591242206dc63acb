/**
 * What the package's admin endpoints share: one route per admin app for every deployed node of a
 * type, nodes found by their object (a redeployed node is found, a closed one is not), and the
 * same answers for "no such node" and for an action the node refuses.
 */
import type { Node, NodeAPI } from "node-red";
import { isDefectError } from "../../lib/errors";
import { translateError } from "./errors";

export const HTTP_NO_CONTENT = 204;
export const HTTP_BAD_REQUEST = 400;
export const HTTP_NOT_FOUND = 404;
/** The request was fine but the node's state refuses it (e.g. nothing to roll back to). */
export const HTTP_CONFLICT = 409;
export const HTTP_SERVER_ERROR = 500;

/** The response methods the endpoints use (Express's). */
export interface AdminResponse {
  status(code: number): AdminResponse;
  json(body: unknown): void;
}

/** What each deployed node of one type offers its endpoint; forgotten when the node closes. */
export class DeployedNodes<T> {
  private readonly byNode = new WeakMap<Node, T>();

  attach(node: Node, value: T): void {
    this.byNode.set(node, value);
  }

  detach(node: Node): void {
    this.byNode.delete(node);
  }

  /** The value of the deployed node of `type` with id `param`, if it is one. */
  find(RED: NodeAPI, type: string, param: unknown): T | undefined {
    // getNode finds nodes of every type; only ours have a value here, and only while deployed.
    const node = RED.nodes.getNode(typeof param === "string" ? param : "") as Node | null | undefined;
    return node !== null && node !== undefined && node.type === type ? this.byNode.get(node) : undefined;
  }
}

/** Admin apps that already have a route, by route name: registering twice would answer every request twice. */
const served = new WeakMap<object, Set<string>>();

/** Runs `register` once per admin app and `route` (Node-RED may load a node module more than once). */
export function serveOnce(RED: NodeAPI, route: string, register: () => void): void {
  const app = RED.httpAdmin as object;
  const routes = served.get(app) ?? new Set<string>();
  served.set(app, routes);
  if (routes.has(route)) return;
  routes.add(route);
  register();
}

export function answerNotFound(res: AdminResponse, type: string, id: unknown): void {
  res.status(HTTP_NOT_FOUND).json({ error: `no deployed ${type} node with id ${String(id)}` });
}

/** Answers the action's result as JSON; a refusal by the node as 409 with its code, anything else 500. */
export function answerAction(RED: NodeAPI, type: string, res: AdminResponse, action: Promise<Record<string, unknown>>): void {
  action.then(
    (result) => res.json(result),
    (error: unknown) => {
      const translated = translateError(RED, type, error);
      res.status(isDefectError(error) ? HTTP_CONFLICT : HTTP_SERVER_ERROR).json({ code: translated.code, error: translated.message });
    },
  );
}
