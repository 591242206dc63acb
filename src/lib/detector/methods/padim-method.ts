/**
 * PaDiM for the detector: learning rounds that end in per-position Gaussians (fitted on a
 * worker thread), saved and loaded with a record of what they were learned with. A round keeps
 * each image's embedding as float16 (half the memory; the covariance of 200 images does not see
 * the difference) and hands the buffers to the fit worker as they are.
 */
import { chooseChannels, layersKey, padimEmbedding, totalChannels } from "../../anomaly/padim/embedding";
import type { PadimOptions, PadimStatistics } from "../../anomaly/padim/padim";
import { openPadimModel } from "../../anomaly/padim/model";
import { DefectError } from "../../errors";
import type { PatchExtractor } from "../../features/extractor";
import { floatsToHalf } from "../../supervised/half";
import { detectorModel, learnedRecord, openBackboneContext, type BackboneMethodConfig } from "./backbone-context";
import { learnedRecordMetadata } from "../storage/learned-record";
import { fitGaussiansOffThread } from "../fit/off-thread";
import { padimStatisticsFrom, savePadimStatistics } from "../storage/padim-store";
import { checkSample, shapeOf, type SampleShape } from "../sample";
import type { FittedModel, LearningMethod, LearningRound } from "../types";

export interface PadimMethodConfig extends BackboneMethodConfig {
  options: PadimOptions;
}

/** What the model info shows: how many Gaussians of how many channels. */
function padimInfo(statistics: PadimStatistics): Record<string, number> {
  return { positions: statistics.gaussians.positions, features: statistics.gaussians.dim };
}

export async function openPadimMethod(config: PadimMethodConfig): Promise<LearningMethod> {
  const context = await openBackboneContext(config, "padim");
  const { options, session } = config;

  function createRound(extractor: PatchExtractor): LearningRound {
    const images: Uint16Array[] = [];
    let channels: Int32Array | undefined;
    let layers = "";
    let grid = { width: 0, height: 0, positions: 0, dim: 0 };
    let first: SampleShape | undefined;
    let owned = true;
    return {
      get count() {
        return images.length;
      },
      async add(sample) {
        if (first !== undefined) checkSample(first, sample, "round");
        const maps = await extractor.layers(sample.tensor);
        const picked = channels ?? chooseChannels(totalChannels(maps), options.channels, options.seed);
        if (channels !== undefined && layersKey(maps) !== layers) {
          throw new DefectError(
            "inputShapeMismatch",
            `feature maps ${layersKey(maps)} differ from the round's ${layers}: preprocess every image the same way`,
            {
              expected: layers,
              actual: layersKey(maps),
            },
          );
        }
        const embedding = padimEmbedding(maps, picked);
        images.push(floatsToHalf(embedding.data));
        channels = picked;
        layers = layersKey(maps);
        grid = { width: embedding.gridWidth, height: embedding.gridHeight, positions: embedding.patches, dim: embedding.dim };
        first ??= shapeOf(sample);
      },
      async fit(signal): Promise<FittedModel> {
        if (first === undefined || channels === undefined) {
          throw new DefectError("notTrained", "nothing to fit: no good image has been learned yet", { count: 0 });
        }
        const gaussians = await fitGaussiansOffThread(images, grid.positions, grid.dim, options.regularisation, session, signal);
        const statistics: PadimStatistics = { channels, layers, gridWidth: grid.width, gridHeight: grid.height, gaussians };
        const model = await openPadimModel(extractor, statistics, options, session);
        const record = learnedRecord(context.learnedWith, first, images.length, options);
        owned = false;
        return {
          model: detectorModel(extractor, model, record, padimInfo(statistics)),
          save: (path) => savePadimStatistics(path, statistics, learnedRecordMetadata(record)),
        };
      },
      async release() {
        images.length = 0;
        if (owned) await extractor.release();
      },
    };
  }

  return {
    kind: "learning",
    method: "padim",
    startRound: async () => createRound(await context.openExtractor()),
    async load(path) {
      const { file, record } = await context.readChecked(path);
      const statistics = padimStatisticsFrom(file, path);
      const extractor = await context.openExtractor(record);
      try {
        return detectorModel(extractor, await openPadimModel(extractor, statistics, options, session), record, padimInfo(statistics));
      } catch (error) {
        await extractor.release();
        throw error;
      }
    },
    release: () => context.release(),
  };
}
