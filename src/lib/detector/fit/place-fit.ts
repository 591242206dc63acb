/**
 * A round's place weights (place-weights.ts), fitted from the learned images' leave-one-out patch
 * distances, and those images' leave-one-out scores made again with them: each image's distances
 * weighted by the weights of the other images alone (its own spread left out, as its rows are),
 * so the scores handed to the threshold are what the weighted model gives parts it never learned.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { upsampleNearestBlurred } from "../../anomaly/map-ops";
import { mapImageScore, type PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import { PlaceSpread, weighPlaces } from "../../anomaly/patchcore/place-weights";

export interface PlaceFit {
  /** The model's weights, from every learned image. */
  places: Float32Array;
  /** Each image's leave-one-out score with the weights of the others, in the order given. */
  scores: number[];
  /** Each image's leave-one-out distances weighted as inspections weigh them (the model's weights). */
  grids: Float32Array[];
}

export async function fitPlaceWeights(
  grids: readonly Float32Array[],
  grid: { width: number; height: number },
  map: { width: number; height: number },
  options: Pick<PatchCoreOptions, "imageScore" | "blurSigma">,
): Promise<PlaceFit> {
  const rule = options.imageScore;
  // The re-weighted peak would need each image's search again; the options refuse the pair.
  if (rule === "reweighted") throw new Error("place weights need an image score read from the anomaly map");
  const spread = new PlaceSpread(grids);
  const scores: number[] = [];
  for (let k = 0; k < grids.length; k++) {
    // A map and a sort an image: a few ms, so the loop yields between images, not holding Node-RED's thread for a whole round.
    await nextTurn();
    const weighted = weighPlaces(grids[k] as Float32Array, spread.weights(k));
    scores.push(mapImageScore(rule, upsampleNearestBlurred({ data: weighted, ...grid }, map.width, map.height, options.blurSigma)));
  }
  const places = spread.weights();
  return { places, scores, grids: grids.map((g) => weighPlaces(g, places)) };
}
