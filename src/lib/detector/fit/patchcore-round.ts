/**
 * A PatchCore learning round: good images in, a memory bank out (bank-fit.ts). What it holds per
 * learned image is a copy of the tensor (768 KB at 256 px RGB) and the image's rows in the
 * coreset space (512 KB at 1024 patches x 128), not its full patch features (6 MB with
 * ResNet-50 layer2+layer3): the fit embeds again the images whose rows the coreset keeps. The
 * backbone gives the same features for the same tensor, so the bank is the one that keeping
 * every feature would have given, at about a fifth of the memory and one more backbone pass.
 * Features no wider than the coreset space (the embedded backbone's) are the space rows
 * themselves and are read back instead. Each learned image's mean features (6 KB) are kept for
 * the appearance model (appearance.ts), fitted with the leave-one-out scores.
 */
import { coresetSpaceDim, openCoresetProjector } from "../../anomaly/patchcore/bank-select";
import type { PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import type { RowProjector } from "../../anomaly/patchcore/projection";
import { copyRows, RowBlockWriter } from "../../anomaly/patchcore/row-blocks";
import { DefectError } from "../../errors";
import type { PatchExtractor } from "../../features/extractor";
import type { PatchEmbedding } from "../../features/types";
import { tensorSize } from "../../image/tensor";
import type { Tensor } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import { learnedRecord } from "../methods/backbone-context";
import { fitPatchCoreBank, type ShotCalibration } from "./bank-fit";
import { leaveOneImageOutScores } from "./leave-one-image-out";
import type { LearnedWith } from "../storage/learned-record";
import { fitStopped } from "./off-thread";
import { OnlineBank } from "../online/online-bank";
import { onlinePatchCoreModel } from "../online/online-model";
import { checkSample, shapeOf, type SampleShape } from "../sample";
import { supportVariants, type AugmentChoice, type Variant } from "./support-set";
import type { FittedModel, HandedCalibration, LearningRound } from "../types";
import { compactTensor, expandTensor, MAX_KEPT_IMAGES, spreadEvenly, type CompactTensor, type KeptImage } from "../online/kept-calibration";
import { augmentEnabled } from "../../anomaly/patchcore/augment";
import { MIN_PLACE_IMAGES } from "../../anomaly/patchcore/place-weights";
import { fitPlaceWeights } from "./place-fit";
import { fitAppearance, keptImages, leaveOneOutNeighbours, leaveOneOutWithAppearance, meanFeatures, type Appearance } from "../../anomaly/patchcore/appearance";
import { fitLookalikes, lookalikeTermOfRows } from "../../anomaly/patchcore/lookalikes";

export interface PatchCoreRoundConfig {
  /** Owned by the round until a fit hands it to the model. */
  extractor: PatchExtractor;
  learnedWith: LearnedWith;
  options: PatchCoreOptions;
  session: SessionOptions;
  augment: AugmentChoice;
  defectWeight: number | undefined;
  /** Weight of the appearance term; the model is fitted with the leave-one-out scores of a round learned from good parts. */
  appearanceWeight: number;
  /** Look-alikes a score is calibrated by (lookalikes.ts); 0: none. Fitted with the appearance model. */
  lookalikes: number;
  /**
   * Fit place weights (place-weights.ts) from the leave-one-out distances of a round learned from
   * good parts (at least MIN_PLACE_IMAGES images, an image score read from the map).
   */
  placeWeights: boolean;
  /**
   * Score each learned image against the fitted bank without its own rows and hand the scores
   * over with the model (a good-only threshold's calibration): few-shot rounds in the fit worker
   * (leave-one-out.ts), others one image at a time after the fit (leave-one-image-out.ts).
   */
  leaveOneOut: boolean;
}

/** What the first image fixes for the round: the patch grid, and where its rows go. */
interface RoundGrid {
  patches: number;
  dim: number;
  width: number;
  height: number;
  projector: RowProjector | null;
  /** False when the features have no more dimensions than the coreset space: the space rows are the features. */
  projected: boolean;
  space: RowBlockWriter;
}

export function createPatchCoreRound(config: PatchCoreRoundConfig): LearningRound {
  const { extractor, options, session } = config;
  /** The learned tensors, compact (kept-calibration.ts): a quarter of the memory, expanded when the fit reads them. */
  const tensors: CompactTensor[] = [];
  /** Each learned image's mean features, in learning order. */
  const means: Float32Array[] = [];
  let grid: RoundGrid | undefined;
  let first: SampleShape | undefined;
  let owned = true;

  async function openGrid(embedding: PatchEmbedding): Promise<RoundGrid> {
    const projector = await openCoresetProjector(embedding.dim, options, session);
    const space = new RowBlockWriter(coresetSpaceDim(embedding.dim, options));
    return {
      patches: embedding.patches,
      dim: embedding.dim,
      width: embedding.gridWidth,
      height: embedding.gridHeight,
      projector,
      projected: projector !== null,
      space,
    };
  }

  /** Places one embedded image in the coreset space; its full features are dropped. */
  async function place(embedding: PatchEmbedding): Promise<void> {
    grid ??= await openGrid(embedding);
    if (embedding.patches !== grid.patches || embedding.dim !== grid.dim) {
      const expected = `${grid.patches}x${grid.dim}`;
      const actual = `${embedding.patches}x${embedding.dim}`;
      throw new DefectError("inputShapeMismatch", `patch features ${actual} differ from the round's ${expected}`, { expected, actual });
    }
    grid.space.append(grid.projector === null ? embedding.data : await grid.projector.project(embedding.data, embedding.patches, { consume: true }));
  }

  async function closeProjector(): Promise<void> {
    const projector = grid?.projector;
    if (grid !== undefined) grid.projector = null;
    await projector?.release();
  }

  return {
    get count() {
      return tensors.length;
    },
    async add(sample) {
      if (first !== undefined) checkSample(first, sample, "round");
      const embedding = await extractor.embed(sample.tensor);
      // Before place(), which hands the features' buffer to the projector.
      const mean = meanFeatures(embedding);
      await place(embedding);
      means.push(mean);
      // A copy: the message that brought it may be changed downstream before the fit embeds it again.
      tensors.push(compactTensor(sample.tensor));
      // Only a sample the backbone accepted defines the round.
      first ??= shapeOf(sample);
    },
    async fit(signal): Promise<FittedModel> {
      if (first === undefined || grid === undefined) throw new DefectError("notTrained", "nothing to fit: no good image has been learned yet", { count: 0 });
      // Every sample of the round shares the first one's preprocessing (checkSample).
      // Only the shots augmentation reads are expanded at once (a round of 200 images is not).
      const augmenting = augmentEnabled({ mode: config.augment.mode, maxShots: config.augment.maxShots }, tensors.length);
      const { variants, record: augmentation } = supportVariants(
        config.augment,
        augmenting ? tensors.slice(0, config.augment.maxShots).map(expandTensor) : [],
        first.preprocessing,
      );
      for (const variant of variants) {
        if (signal.aborted) throw fitStopped();
        await place(await extractor.embed(variant.make()));
      }
      await closeProjector();
      // Learned image i: shot i, then the variants in order (the order their rows were placed in).
      const shots = tensors.length;
      const variantOf = (image: number): Variant => variants[image - shots] as Variant;
      const shotOf = (image: number): Tensor => expandTensor(tensors[image] as CompactTensor);
      const sourceOf = (image: number): Tensor => (image < shots ? shotOf(image) : variantOf(image).make());
      // Few shots: their features are gathered by the fit anyway, and scored in its worker.
      const fewShot = config.learnedWith.setting === "fewshot";
      const calibration: ShotCalibration | null =
        config.leaveOneOut && fewShot
          ? {
              owners: Int32Array.from({ length: shots + variants.length }, (_, i) => (i < shots ? i : variantOf(i).shot)),
              shots,
              grid: { width: grid.width, height: grid.height },
              map: tensorSize(first),
            }
          : null;
      const space = grid.space.finish();
      const { patches, projected } = grid;
      const learned = {
        space,
        images: shots + variants.length,
        patches,
        dim: grid.dim,
        // Unprojected, the space rows are the features themselves: read, not embedded again.
        features: async (image: number) => (projected ? (await extractor.embed(sourceOf(image))).data : copyRows(space, image * patches, patches)),
      };
      const fit = await fitPatchCoreBank(learned, options, session, signal, { calibration, keepSpace: !projected });
      const { bank } = fit;
      let leaveOneOut = fit.leaveOneOut;
      /** Place weights, where the round fits them (a round learned from good parts). */
      let places: Float32Array | null = null;
      /** The images scored leave-one-out, in score order, with their patch distances (few shots: by the fit). */
      const scored: Array<{ image: number; grid: Float32Array }> = [...fit.leftOut];
      if (config.leaveOneOut && !fewShot) {
        // A variant's rows are its shot's: an image is scored without every copy of itself.
        const owners = Int32Array.from(fit.rowImages, (image) => (image < shots ? image : variantOf(image).shot));
        const input = {
          owners,
          images: shots,
          embed: (image: number) => extractor.embed(shotOf(image)),
          map: tensorSize(first),
          onScored: (image: number, patchGrid: Float32Array) => scored.push({ image, grid: patchGrid.slice() }),
        };
        leaveOneOut = await leaveOneImageOutScores(bank, input, options, session, signal);
        if (config.placeWeights && scored.length >= MIN_PLACE_IMAGES) {
          const fitted = await fitPlaceWeights(
            scored.map((image) => image.grid),
            grid,
            input.map,
            options,
          );
          if (signal.aborted) throw fitStopped();
          places = fitted.places;
          leaveOneOut = fitted.scores;
          scored.forEach((image, k) => (image.grid = fitted.grids[k] as Float32Array));
        }
      }
      let appearance: Appearance | null = null;
      if (leaveOneOut !== null && !fewShot) {
        const dim = grid.dim;
        const vectors = new Float32Array(shots * dim);
        means.forEach((mean, i) => vectors.set(mean, i * dim));
        // The images whose vectors the model keeps: the distances are measured to them.
        const kept = keptImages(shots);
        const { distances, rows } = await leaveOneOutNeighbours(vectors, shots, dim, Math.max(1, config.lookalikes), session, kept);
        appearance = fitAppearance(vectors, shots, dim, distances, leaveOneOut, kept);
        // What the threshold calibrates on: the image scores the model gives, appearance term included.
        if (appearance !== null) leaveOneOut = leaveOneOutWithAppearance(appearance, config.appearanceWeight, leaveOneOut, distances);
        const levels = leaveOneOut;
        const lookalikes =
          appearance === null || config.lookalikes < 1
            ? null
            : fitLookalikes(
                Array.from(kept, (image) => levels[image] as number),
                config.lookalikes,
              );
        if (appearance !== null && lookalikes !== null) {
          appearance = { ...appearance, lookalikes };
          // Each image's look-alikes are the others nearest it: as a part the model never saw.
          leaveOneOut = levels.map((score, i) => score + lookalikeTermOfRows(lookalikes, rows[i] as Int32Array));
        }
      }
      const final = leaveOneOut;
      // Kept so the handed scores can follow confirmed defects (kept-calibration.ts).
      const calibrationImages: KeptImage[] =
        final === null
          ? []
          : spreadEvenly(
              scored.map(({ image, grid: patchGrid }, k) => ({ tensor: tensors[image] as CompactTensor, score: final[k] as number, grid: patchGrid })),
              MAX_KEPT_IMAGES,
            );
      const online = await OnlineBank.fitted(bank, options, session, {
        defectWeight: config.defectWeight,
        appearance,
        appearanceWeight: config.appearanceWeight,
        kept: calibrationImages,
        places,
      });
      const record = {
        ...learnedRecord(config.learnedWith, first, shots, options),
        augmentation,
        ...(leaveOneOut === null ? {} : { leaveOneOut }),
      };
      owned = false;
      const model = onlinePatchCoreModel(extractor, online, record);
      const handed: HandedCalibration | undefined = leaveOneOut === null ? undefined : { kind: "leave-one-out", scores: leaveOneOut };
      return { model, save: (path) => model.online.save(path, 1), ...(handed === undefined ? {} : { calibration: handed }) };
    },
    async release() {
      tensors.length = 0;
      means.length = 0;
      await closeProjector();
      grid = undefined;
      if (owned) await extractor.release();
    },
  };
}
