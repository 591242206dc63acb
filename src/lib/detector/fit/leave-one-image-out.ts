/**
 * The calibration scores a PatchCore round hands over with its model (unsupervised setting):
 * each learned image scored against the fitted bank without the rows it brought, as a good part
 * the model never saw would be scored. A learned image scored against the whole bank finds its
 * own rows and scores far lower than new good parts do, so a threshold from those scores rejects
 * far more good parts than it promises; holding images back instead costs the model the images
 * (a 1 % false-reject rate needs 99 held back). Leaving each image out costs one more backbone
 * pass and one search per learned image, and nothing is read from disk again: the round keeps
 * its tensors until the fit ends.
 *
 * The searches are the model's own (the same subspace and candidate ranking as inspections,
 * excluding-search.ts), so a score is what an inspection of that image would give if the image
 * had not been learned. The few-shot setting has its own path (leave-one-out.ts): its handful of
 * shots' features are at hand in the fit worker; 200 images' features (6 MB each) are not.
 */
import { excludingSearch } from "../../anomaly/patchcore/excluding-search";
import { openNearestSearch } from "../../anomaly/patchcore/nearest";
import { PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import type { PatchEmbedding } from "../../features/types";
import type { SessionOptions } from "../../onnx";
import { fitStopped } from "./off-thread";

export interface LeaveOneImageOutInput {
  /** The learned image each bank row came from (an augmented variant counts as its image). */
  owners: Int32Array;
  /** Images 0 .. images - 1 are scored. */
  images: number;
  /** Full patch features of image i (embedded again: the round keeps tensors, not features). */
  embed(image: number): Promise<PatchEmbedding>;
  /** The model's input size: the map a "map-max" image score is read from. */
  map: { width: number; height: number };
  /** Told each scored image's patch distances (kept-calibration.ts scores them again later). */
  onScored?: (image: number, grid: Float32Array) => void;
}

/**
 * One score per image, in image order; an image that brought every row of the bank (a round of
 * one image) has nothing to be scored against and gives none.
 */
export async function leaveOneImageOutScores(
  bank: MemoryBank,
  input: LeaveOneImageOutInput,
  options: PatchCoreOptions,
  session: SessionOptions,
  signal: AbortSignal,
): Promise<number[]> {
  const { owners, images, map } = input;
  const own = new Int32Array(images);
  for (const owner of owners) if (owner >= 0 && owner < images) own[owner] = (own[owner] as number) + 1;
  const projection = bank.projection === null ? undefined : { matrix: bank.projection, outDim: bank.projection.length / bank.dim };
  const search = await openNearestSearch(bank.data, bank.size, bank.dim, session, projection);
  try {
    const scores: number[] = [];
    for (let image = 0; image < images; image++) {
      if (signal.aborted) throw fitStopped();
      const count = own[image] as number;
      if (count >= bank.size) continue;
      const scorer = PatchCoreScorer.over(
        bank,
        excludingSearch(search, (row) => owners[row] === image, count),
        options,
      );
      const embedding = await input.embed(image);
      const patches = await scorer.scorePatches(embedding);
      input.onScored?.(image, patches.grid.data);
      scores.push(scorer.imageScoreOf(patches.score, () => scorer.anomalyMap(patches.grid, map.width, map.height)));
    }
    return scores;
  } finally {
    await search.release();
  }
}
