/** Node status shown under a node in the editor: an i18n key, changed only on state changes. */
import type { Node, NodeStatusFill, NodeStatusShape } from "node-red";

export interface StatusLook {
  fill: NodeStatusFill;
  shape: NodeStatusShape;
}

/** The states most nodes of the package go through; nodes may pass their own table. */
export const COMMON_STATES = {
  loading: { fill: "grey", shape: "ring" },
  ready: { fill: "green", shape: "dot" },
  watching: { fill: "green", shape: "dot" },
  busy: { fill: "blue", shape: "ring" },
  rejected: { fill: "yellow", shape: "ring" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

export type CommonState = keyof typeof COMMON_STATES;

export interface StatusReporter<S extends string> {
  /** Shows `<type>.status.<state>`; repeated calls with the same state do nothing. */
  set(state: S): void;
  /**
   * Shows the look of `state` with an already translated `text`, for texts with counts
   * ("learning 37/200"); repeated calls with the same state and text do nothing.
   */
  setText(state: S, text: string): void;
  /**
   * A note shown after every state ("ready · dropped 12"), or none. States named by an i18n key
   * are then sent translated, since the editor translates only a bare key.
   */
  setNote(note: string | undefined): void;
  /**
   * A tag shown in brackets after every state ("ready (B-200)": the recipe a node works on), or
   * none; translated like a note.
   */
  setTag(tag: string | undefined): void;
  /** Removes the status, e.g. when the node is deleted. */
  clear(): void;
  readonly current: S | undefined;
}

/**
 * Status changes go to the editor over its websocket, so a node processing 30 frames a second
 * must not send one per message: only changes are sent.
 */
export function createStatus(node: Node, type: string): StatusReporter<CommonState>;
export function createStatus<S extends string>(node: Node, type: string, looks: Record<S, StatusLook>, translate?: (key: string) => string): StatusReporter<S>;
export function createStatus(
  node: Node,
  type: string,
  looks: Record<string, StatusLook> = COMMON_STATES,
  translate: (key: string) => string = (key) => key,
): StatusReporter<string> {
  let current: string | undefined;
  let shown: string | undefined;
  /** What the last state asked for, so a new note can show it again. */
  let base: { state: string; text: string; isKey: boolean } | undefined;
  let note: string | undefined;
  let tag: string | undefined;
  const render = (): void => {
    if (base === undefined) return;
    const look = looks[base.state];
    const plain = note === undefined && tag === undefined;
    const stateText = plain || !base.isKey ? base.text : translate(base.text);
    const text = `${stateText}${tag === undefined ? "" : ` (${tag})`}${note === undefined ? "" : ` · ${note}`}`;
    if ((base.state === current && text === shown) || look === undefined) return;
    current = base.state;
    shown = text;
    node.status({ fill: look.fill, shape: look.shape, text });
  };
  const show = (state: string, text: string, isKey: boolean): void => {
    base = { state, text, isKey };
    render();
  };
  return {
    set(state) {
      show(state, `${type}.status.${state}`, true);
    },
    setText(state, text) {
      show(state, text, false);
    },
    setNote(next) {
      note = next;
      render();
    },
    setTag(next) {
      tag = next;
      render();
    },
    clear() {
      current = undefined;
      shown = undefined;
      base = undefined;
      node.status({});
    },
    get current() {
      return current;
    },
  };
}
