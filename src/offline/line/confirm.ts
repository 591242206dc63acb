/**
 * The verdicts `line --defect-shots N` sends: each labelled defect image as an operator would
 * confirm it at a rework station, msg.confirm with where the defect is, in the image's own pixels
 * (its mask from ground_truth_train, else its boxes from annotations/train), or a plain "defect"
 * where the dataset has neither. The detector places the region through the preprocess node's
 * msg.transform, as it would for a flow's.
 */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import type { LabelledDefect } from "../eval/defect-aware-data";
import { parseAnnotations } from "../template/annotations";

/** Mask pixels at or above this grey level are defect (masks are saved as 0 / 255), as the evaluation reads them. */
const MASK_LEVEL = 128;

export async function confirmationOf(defect: LabelledDefect): Promise<unknown> {
  const region = defect.region;
  if (region === null) return "defect";
  if (region.kind === "boxes") {
    const boxes = parseAnnotations(await readFile(region.path, "utf8"), region.path).map((d) => d.box);
    return { verdict: "defect", boxes };
  }
  const { data, info } = await sharp(region.path).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
  const mask = Uint8Array.from(data, (v) => (v >= MASK_LEVEL ? 1 : 0));
  return { verdict: "defect", mask: { data: mask, width: info.width, height: info.height, space: "original" } };
}
