import { DefectError } from "../../errors";

/**
 * Place weights: where the learned good parts already differ from one another (a part's edges,
 * a fixture, reflections, the border of a crop), a patch's distance to the bank says less about
 * a defect than elsewhere, and such places set off most false rejects. Each place of the patch
 * grid has the spread (standard deviation) of its distances over the learned images, each scored
 * leave-one-out (leave-one-image-out.ts); a place whose spread is above the PLACE_SPREAD_QUANTILE
 * of all places' spreads has its distances scaled down by that quantile over its spread, and
 * every other place keeps weight 1. The weights never raise a distance, so a defect at a steady
 * place scores as before. Chosen on training data (BENCHMARKS.md "Place weights").
 */

/** Places whose spread is above this quantile of the places' spreads count less (0.5 measured worse). */
export const PLACE_SPREAD_QUANTILE = 0.9;
/** A round of fewer learned images gets no weights: a spread over a handful of images says little. */
export const MIN_PLACE_IMAGES = 20;

/** The learned images' leave-one-out distances, summed per place, to give weights with or without one image. */
export class PlaceSpread {
  private readonly sum: Float64Array;
  private readonly squares: Float64Array;

  /** `grids`: each learned image's patch distances, all of one grid. */
  constructor(private readonly grids: readonly Float32Array[]) {
    const places = grids[0]?.length ?? 0;
    this.sum = new Float64Array(places);
    this.squares = new Float64Array(places);
    for (const grid of grids) {
      if (grid.length !== places) throw new RangeError(`patch grids of ${grid.length} and ${places} places`);
      for (let p = 0; p < places; p++) {
        const d = grid[p] as number;
        this.sum[p] = (this.sum[p] as number) + d;
        this.squares[p] = (this.squares[p] as number) + d * d;
      }
    }
  }

  get images(): number {
    return this.grids.length;
  }

  /** The weights from every image, or from all but image `without` (its leave-one-out score's). */
  weights(without?: number): Float32Array {
    const left = without === undefined ? undefined : this.grids[without];
    const n = this.grids.length - (left === undefined ? 0 : 1);
    const spread = new Float64Array(this.sum.length);
    for (let p = 0; p < spread.length; p++) {
      const d = left === undefined ? 0 : (left[p] as number);
      const mean = ((this.sum[p] as number) - d) / n;
      spread[p] = Math.sqrt(Math.max(0, ((this.squares[p] as number) - d * d) / n - mean * mean));
    }
    const sorted = Float64Array.from(spread).sort();
    const floor = sorted[Math.min(sorted.length - 1, Math.floor(PLACE_SPREAD_QUANTILE * sorted.length))] as number;
    return Float32Array.from(spread, (s) => (s > floor ? floor / s : 1));
  }
}

/** `distances` with each place's weight applied (a copy); unchanged without weights. */
export function weighPlaces(distances: Float32Array, weights: Float32Array | null): Float32Array {
  if (weights === null) return distances;
  if (weights.length !== distances.length) {
    throw new DefectError("inputShapeMismatch", `the model's place weights cover ${weights.length} patches, the image has ${distances.length}`, {
      expected: weights.length,
      actual: distances.length,
    });
  }
  return distances.map((d, p) => d * (weights[p] as number));
}
