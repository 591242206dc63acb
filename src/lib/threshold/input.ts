/** The threshold node's reading of msg.anomalyMap: the shared reader, with the node's own error code and words. */
import { DefectError } from "../errors";
import type { MessageScoreMap } from "../image/types";
import { readAnomalyMap, type GridFault, type MessageView } from "../message";

/** The words the threshold node has always used (`Invalid msg.anomalyMap: 3 values do not fill 2x2`). */
function reason(fault: GridFault): string {
  switch (fault.kind) {
    case "notObject":
      return `got ${fault.got}`;
    case "size":
      return `width and height must be positive integers, got ${String(fault.width)}x${String(fault.height)}`;
    case "data":
      return `data must be a Float32Array or an array of numbers, got ${fault.got}`;
    case "length":
      return `${fault.length} values do not fill ${fault.width}x${fault.height}`;
    case "space":
      return `space must be original or model, got ${String(fault.space)}`;
  }
}

function mapInvalid(_property: string, fault: GridFault): DefectError {
  const why = reason(fault);
  return new DefectError("invalidOption", `msg.anomalyMap is not a score map: ${why}`, { option: "msg.anomalyMap", value: why });
}

/** msg.anomalyMap, or undefined when the message has none; `invalidOption` when it is malformed. */
export function readScoreMap(msg: MessageView): MessageScoreMap | undefined {
  return readAnomalyMap(msg, mapInvalid);
}
