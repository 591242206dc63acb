/**
 * Box annotations of template-comparison datasets (DeepPCB's JSON layout):
 * {"defects": [{"box": [x1, y1, x2, y2], "type": "open"}, ...]} with x2, y2 exclusive.
 */
import { DefectError } from "../../lib/errors";
import type { Rect } from "../../lib/image/types";

export interface AnnotatedDefect {
  box: Rect;
  type: string;
}

function isBox(value: unknown): value is [number, number, number, number] {
  return Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === "number" && Number.isFinite(v));
}

/** Parses the annotation text of one image; `source` names the file in errors. */
export function parseAnnotations(text: string, source: string): AnnotatedDefect[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DefectError("fileReadFailed", `The annotation file ${source} is not valid JSON: ${(err as Error).message}`, { path: source });
  }
  const defects = typeof parsed === "object" && parsed !== null ? (parsed as { defects?: unknown }).defects : undefined;
  if (!Array.isArray(defects)) {
    throw new DefectError("fileReadFailed", `The annotation file ${source} has no "defects" list.`, { path: source });
  }
  return defects.map((entry: unknown, index) => {
    const box = typeof entry === "object" && entry !== null ? (entry as { box?: unknown }).box : undefined;
    const type = typeof entry === "object" && entry !== null ? (entry as { type?: unknown }).type : undefined;
    if (!isBox(box) || box[2] <= box[0] || box[3] <= box[1]) {
      throw new DefectError("fileReadFailed", `Defect ${index} in ${source} needs "box": [x1, y1, x2, y2] with x2 > x1 and y2 > y1.`, {
        path: source,
        index,
      });
    }
    const [x1, y1, x2, y2] = box;
    return { box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, type: typeof type === "string" ? type : "defect" };
  });
}
