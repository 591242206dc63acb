/**
 * What the mask-to-region stage takes from a message (msg.mask, msg.anomalyMap,
 * msg.payload.threshold, msg.transform), read through src/lib/message, and how those fit together.
 */
import { DefectError } from "../errors";
import { finiteNumber, isRecord, readAnomalyMap, readMask, readTransform, gridFaultText, type GridError } from "../message";
import type { RegionInput } from "./types";

/** The message properties the stage reads (a type, not an interface, so that it is a MessageView). */
export type RegionMessage = {
  mask?: unknown;
  anomalyMap?: unknown;
  payload?: unknown;
  transform?: unknown;
};

function noInput(property: string, reason: string): DefectError {
  return new DefectError("noMaskInput", `${property} ${reason}`, { property, reason });
}

/** Flows switch on mask-to-region's `noMaskInput` for any unusable mask or map. */
const noUsableGrid: GridError = (property, fault) => noInput(property, gridFaultText(fault));

/**
 * What the stage works on. A mask is used as given; without one the map is thresholded at
 * msg.payload.threshold. msg.transform is required only for data in model space.
 */
export function readRegionInput(msg: RegionMessage): RegionInput {
  const input: RegionInput = {};
  const mask = readMask(msg, noUsableGrid);
  const map = readAnomalyMap(msg, noUsableGrid);
  if (mask !== undefined) input.mask = mask;
  if (map !== undefined) input.map = map;
  const threshold = isRecord(msg.payload) ? finiteNumber(msg.payload["threshold"]) : undefined;
  if (threshold !== undefined) input.threshold = threshold;
  if (input.mask === undefined) {
    if (input.map === undefined) throw noInput("msg.mask", "is missing, and there is no msg.anomalyMap to threshold either");
    if (input.threshold === undefined) {
      throw noInput("msg.mask", "is missing, and msg.anomalyMap cannot be thresholded without a numeric msg.payload.threshold");
    }
  }
  if (input.mask !== undefined && input.map !== undefined) {
    const { mask, map } = input;
    if (mask.width !== map.width || mask.height !== map.height || mask.space !== map.space) {
      const maskText = `${mask.width}x${mask.height} (${mask.space})`;
      const mapText = `${map.width}x${map.height} (${map.space})`;
      throw new DefectError("maskSizeMismatch", `msg.mask is ${maskText} but msg.anomalyMap is ${mapText}`, { mask: maskText, map: mapText });
    }
  }
  const space = (input.mask ?? input.map)?.space;
  if (space === "model") {
    const transform = readTransform(msg);
    if (transform === undefined) {
      throw new DefectError(
        "noTransformInput",
        'The mask is in model pixels (space "model") and needs msg.transform from the preprocess node to be placed on the image',
        {
          property: "msg.transform",
        },
      );
    }
    input.transform = transform;
  }
  return input;
}
