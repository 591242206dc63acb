/**
 * The normal-difference model a template detector compares with when all it has learned is
 * good references. Such a model cannot be fitted from references alone: what a good capture may
 * differ from its template (edges a pixel off, binarisation jitter, thin fringes) is only seen
 * in real captures, and where defects are only in labelled ones. Fitting it on the references'
 * own simulated captures (shifted, re-binarised copies) teaches it to excuse exactly the
 * simulated noise and nothing of the real one.
 *
 * So it starts from the model `eval --method template` fits on DeepPCB's 200 training pairs
 * (scanned, binarised printed boards with their templates, training split only): edges tolerate
 * a difference of 0.45 on the edge and about 0.1 within four pixels of it, 1-pixel fringes are
 * opened away (a 2x2 opening), and line-width drift of up to 2 pixels is compensated. Two
 * things are changed for parts in general: the operating threshold is a difference of 0.3
 * instead of that fit's 0.8 (0.8 suits black-and-white scans, where a defect is a full-contrast
 * difference; on a printed label a stain or missing ink differs by half the ink's contrast or
 * less), and regions start at 4 pixels, the smallest square the opening lets through. On
 * DeepPCB's 150 test pairs at 640 px the template detector's maps, cut at the operating point
 * into regions of at least 10 pixels, find 99.7 % of the annotated defects at 0.13 false regions
 * per image (`eval --method template`, with the model it fits and its own region sizes: 99.9 %
 * at 0.13).
 */
import { NORMAL_MODEL_KIND, type NormalDifferenceModel } from "./normal-model";

export const PRINTED_PARTS_MODEL: Readonly<NormalDifferenceModel> = Object.freeze({
  kind: NORMAL_MODEL_KIND,
  version: 1,
  tolerance: 1,
  maxWidthBias: 2,
  edgeTolerance: [0.45, 0.12, 0.12, 0.1, 0.05],
  opening: 2,
  smoothing: 0,
  threshold: 0.3,
  minArea: 4,
});

/** The model with another edge-displacement tolerance (pixels). */
export function printedPartsModel(tolerance: number = PRINTED_PARTS_MODEL.tolerance): NormalDifferenceModel {
  return { ...PRINTED_PARTS_MODEL, edgeTolerance: [...PRINTED_PARTS_MODEL.edgeTolerance], tolerance };
}
