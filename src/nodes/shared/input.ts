/** The async input path shared by all nodes: exactly one of done() or done(err) per message. */
import type { Node, NodeMessage, NodeMessageInFlow } from "node-red";
import type { ErrorRouter } from "./errors";
import { settleMessage } from "./queue";

export type SendFunction = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/** Does the work and sends what it produces; throwing routes the error for the message. */
export type InputHandler = (msg: NodeMessageInFlow, send: SendFunction) => Promise<void>;

export function handleInput(node: Node, errors: ErrorRouter, handler: InputHandler): void {
  node.on("input", (msg, send, done) => {
    handler(msg, send).then(
      () => done(),
      (error: unknown) => {
        errors.fail(error, done);
        // A refused message has ended its journey: a blocking source upstream may send another.
        settleMessage(msg._msgid);
      },
    );
  });
}

/** For a node whose configuration is invalid: every message fails with the deploy-time error. */
export function rejectInput(node: Node, error: Error): void {
  node.on("input", (_msg, _send, done) => done(error));
}
