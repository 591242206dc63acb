/**
 * msg.confirm: an operator's verdict on a part, "good" or "defect", or an object that also says
 * where the defect is: { verdict: "defect", boxes: [{ x, y, width, height }, ...] } or
 * { verdict: "defect", mask: { data, width, height, space } }. The region is read here for its
 * shape only; whether it lies inside the image is checked against the part it confirms
 * (detector/online/defect-region.ts), which is the only one that knows the image's size.
 *
 * The region travels inside msg.confirm rather than in msg.mask or msg.regions: those are what
 * the threshold and mask-to-region nodes write about the detector's own findings, and a verdict
 * message that passed through them would otherwise teach the detector its own guess.
 */
import { DefectError } from "../errors";
import type { BinaryMask, Rect } from "../image/types";
import { readMaskValue } from "./score-map";
import { describe, isRecord, type MessageView } from "./record";

export const VERDICTS = ["good", "defect"] as const;
export type ConfirmVerdict = (typeof VERDICTS)[number];

/** Where a confirmed defect is, in the message's own terms (original image pixels, or the mask's space). */
export type DefectRegion = { kind: "boxes"; boxes: readonly Rect[] } | { kind: "mask"; mask: BinaryMask };

export interface ConfirmRequest {
  verdict: ConfirmVerdict;
  /** Undefined for a verdict without a region. */
  region: DefectRegion | undefined;
}

const OBJECT_KEYS = ["verdict", "boxes", "mask"];

function invalid(option: string, value: string, message: string): DefectError {
  return new DefectError("invalidOption", message, { option, value });
}

function readVerdict(value: unknown, option: string): ConfirmVerdict {
  const verdict = VERDICTS.find((v) => v === value);
  if (verdict === undefined) throw invalid(option, String(value), `${option} must be "good" or "defect", got ${JSON.stringify(value) ?? String(value)}`);
  return verdict;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** One box: finite x and y, width and height above 0 (whether it is inside the image is checked later). */
function readBox(value: unknown, index: number): Rect {
  const option = `msg.confirm.boxes[${index}]`;
  if (!isRecord(value)) throw invalid(option, describe(value), `${option} must be {x, y, width, height}, got ${describe(value)}`);
  const { x, y, width, height } = value;
  if (!isFiniteNumber(x) || !isFiniteNumber(y) || !isFiniteNumber(width) || !isFiniteNumber(height) || width <= 0 || height <= 0) {
    const shown = [x, y, width, height].map((v) => (typeof v === "number" ? String(v) : describe(v))).join(", ");
    throw invalid(option, shown, `${option} needs finite x and y and a width and height above 0, got ${shown}`);
  }
  return { x, y, width, height };
}

function readRegion(confirm: Record<string, unknown>, verdict: ConfirmVerdict): DefectRegion | undefined {
  const { boxes, mask } = confirm;
  if (boxes === undefined && mask === undefined) return undefined;
  if (boxes !== undefined && mask !== undefined) throw invalid("msg.confirm", "boxes and mask", "msg.confirm holds boxes and a mask: give one of them");
  if (verdict !== "defect") {
    const key = boxes !== undefined ? "boxes" : "mask";
    throw invalid(`msg.confirm.${key}`, `with verdict ${verdict}`, `msg.confirm.${key} says where a defect is: the verdict must be "defect", got "${verdict}"`);
  }
  if (boxes !== undefined) {
    if (!Array.isArray(boxes) || boxes.length === 0) {
      throw invalid("msg.confirm.boxes", describe(boxes), `msg.confirm.boxes must be a list of at least one {x, y, width, height}, got ${describe(boxes)}`);
    }
    return { kind: "boxes", boxes: boxes.map((b: unknown, i) => readBox(b, i)) };
  }
  const read = readMaskValue(mask, "msg.confirm.mask");
  let marked = false;
  for (let i = 0; i < read.data.length && !marked; i++) marked = read.data[i] !== 0;
  if (!marked) throw invalid("msg.confirm.mask", "no defect pixel", "msg.confirm.mask has no defect pixel (every value is 0)");
  return { kind: "mask", mask: read };
}

/** msg.confirm, checked; undefined when the message has none. */
export function readConfirm(msg: MessageView): ConfirmRequest | undefined {
  const confirm = msg.confirm;
  if (confirm === undefined) return undefined;
  if (!isRecord(confirm)) return { verdict: readVerdict(confirm, "msg.confirm"), region: undefined };
  const unknown = Object.keys(confirm).find((key) => !OBJECT_KEYS.includes(key));
  if (unknown !== undefined) {
    throw invalid("msg.confirm", unknown, `msg.confirm has an unknown key "${unknown}" (it takes ${OBJECT_KEYS.join(", ")})`);
  }
  const verdict = readVerdict(confirm["verdict"], "msg.confirm.verdict");
  return { verdict, region: readRegion(confirm, verdict) };
}
