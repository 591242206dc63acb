/**
 * The rehearsed line as a Node-RED flow: image source (file mode, fed paths by the caller) ->
 * preprocess -> detector -> threshold -> mask to region -> alarm, with a tap between mask to
 * region and alarm and a Catch node for every error. Fields left out take each node's own
 * defaults, so the line runs what an unedited node in the editor runs.
 */
import type { FlowNode } from "./runtime";

export const LINE_NODES = {
  tab: "line-tab",
  source: "line-source",
  preprocess: "line-preprocess",
  detector: "line-detector",
  threshold: "line-threshold",
  regions: "line-regions",
  tap: "line-tap",
  alarm: "line-alarm",
  alarmEvents: "line-alarm-events",
  catch: "line-catch",
  caught: "line-caught",
} as const;

/** Names under which function nodes find the caller's callbacks (global.get). */
export const LINE_GLOBALS = { result: "lineResult", caught: "lineCaught", alarm: "lineAlarm" } as const;

/**
 * Queue of preprocess and detector. Set rather than left to the defaults because the stream
 * keeps exactly this many images in flight: the queues stay full and none overflows.
 */
export const LINE_QUEUE_SIZE = 8;

export interface LineFlowOptions {
  /** Preprocess fields (editor names and strings); at least the preset. */
  preprocess: Readonly<Record<string, string>>;
  /** Detector fields (editor names and strings). */
  detector: Readonly<Record<string, string>>;
  /** Threshold fields: a good-only mode and how many samples calibrate it. */
  threshold: Readonly<Record<string, string>>;
}

/** A function node handing each message to a caller's callback; `passOn` keeps it on the wire. */
function callback(id: string, global: string, passOn: boolean, wires: string[][], x: number): FlowNode {
  const func = `global.get(${JSON.stringify(global)})(msg);\nreturn ${passOn ? "msg" : "null"};`;
  return { id, type: "function", z: LINE_NODES.tab, name: id, func, outputs: passOn ? 1 : 0, noerr: 0, x, y: 100, wires };
}

export function lineFlow(options: LineFlowOptions): FlowNode[] {
  const z = LINE_NODES.tab;
  const n = LINE_NODES;
  const queue = { queueSize: String(LINE_QUEUE_SIZE), overflow: "drop-oldest" };
  return [
    { id: z, type: "tab", label: "defect-detection line" },
    { id: n.source, type: "defect-image-source", z, mode: "file", path: "", pathType: "str", x: 100, y: 100, wires: [[n.preprocess]] },
    { id: n.preprocess, type: "defect-preprocess", z, ...options.preprocess, ...queue, x: 250, y: 100, wires: [[n.detector]] },
    { id: n.detector, type: "defect-detector", z, ...options.detector, ...queue, x: 400, y: 100, wires: [[n.threshold]] },
    { id: n.threshold, type: "defect-threshold", z, ...options.threshold, x: 550, y: 100, wires: [[n.regions]] },
    { id: n.regions, type: "defect-mask-to-region", z, x: 700, y: 100, wires: [[n.tap]] },
    // Between mask to region and alarm, so nothing is cloned for the tap and the alarm sees what a plant's would.
    callback(n.tap, LINE_GLOBALS.result, true, [[n.alarm]], 850),
    { id: n.alarm, type: "defect-alarm", z, x: 1000, y: 100, wires: [[n.alarmEvents], []] },
    callback(n.alarmEvents, LINE_GLOBALS.alarm, false, [], 1150),
    { id: n.catch, type: "catch", z, scope: null, uncaught: false, x: 100, y: 200, wires: [[n.caught]] },
    callback(n.caught, LINE_GLOBALS.caught, false, [], 250),
  ];
}
