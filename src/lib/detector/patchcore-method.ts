/**
 * PatchCore for the detector: learning rounds that end in a memory bank (built on a worker
 * thread), with few-shot support-set augmentation (support-set.ts), saved and loaded with a
 * record of what it was learned with.
 */
import type { MemoryBank, PatchCoreOptions } from "../anomaly/patchcore/patchcore";
import { DefectError } from "../errors";
import type { PatchExtractor } from "../features/extractor";
import { principalSubspace } from "../linalg/subspace";
import type { SessionOptions } from "../onnx";
import { learnedRecord, openBackboneContext, type BackboneMethodConfig } from "./backbone-context";
import { emptyDrift } from "./drift";
import { buildBankOffThread } from "./off-thread";
import { OnlineBank } from "./online-bank";
import { onlinePatchCoreModel } from "./online-model";
import { freshCounters, onlineBankFrom } from "./online-store";
import { checkSample, shapeOf, type SampleShape } from "./sample";
import { DEFAULT_AUGMENT_CHOICE, SupportSet, type AugmentChoice } from "./support-set";
import type { FittedModel, LearningMethod, LearningRound } from "./types";

export interface PatchCoreMethodConfig extends BackboneMethodConfig {
  options: PatchCoreOptions;
  /**
   * Weight of confirmed defects' evidence in scores (online-scorers.ts); 0 = not used. A scoring
   * choice, not part of what was learned: changing it keeps the saved model.
   */
  defectWeight?: number;
  /** Support-set augmentation of small rounds (default: "auto", no extra turns). */
  augment?: AugmentChoice;
}

/** The search projection the options ask for, recomputed when the saved one differs. */
async function withProjection(bank: MemoryBank, options: PatchCoreOptions, session: SessionOptions): Promise<MemoryBank> {
  const k = options.scoringDim > 0 && options.scoringDim < bank.dim ? options.scoringDim : 0;
  const saved = bank.projection === null ? 0 : bank.projection.length / bank.dim;
  if (k === saved) return bank;
  const projection = k === 0 ? null : await principalSubspace(bank.data, bank.size, bank.dim, k, { seed: options.seed, session });
  return { ...bank, projection };
}

export async function openPatchCoreMethod(config: PatchCoreMethodConfig): Promise<LearningMethod> {
  const context = await openBackboneContext(config, "patchcore");
  const { options, session, defectWeight } = config;
  const augment = config.augment ?? DEFAULT_AUGMENT_CHOICE;

  /**
   * createPatchCoreTrainer's steps, with the bank built off the main thread: the learned images'
   * patch features, plus those of the first shots' variants when the round is small enough.
   */
  function createRound(extractor: PatchExtractor): LearningRound {
    const chunks: Float32Array[] = [];
    const support = new SupportSet(augment);
    let dim = 0;
    let first: SampleShape | undefined;
    let owned = true;
    return {
      get count() {
        return chunks.length;
      },
      async add(sample) {
        if (first !== undefined) checkSample(first, sample, "round");
        const embedding = await extractor.embed(sample.tensor);
        chunks.push(embedding.data);
        dim = embedding.dim;
        support.add(sample.tensor);
        // Only a sample the backbone accepted defines the round.
        first ??= shapeOf(sample);
      },
      async fit(signal): Promise<FittedModel> {
        if (first === undefined) throw new DefectError("notTrained", "nothing to fit: no good image has been learned yet", { count: 0 });
        // Every sample of the round shares the first one's preprocessing (checkSample).
        const variants = await support.variants(extractor, first.preprocessing, signal);
        support.release();
        const bank = await buildBankOffThread([...chunks, ...variants.features], dim, options, session, signal);
        const empty = new Float32Array(0);
        const snapshot = { bank, pending: empty, defect: empty, counters: freshCounters(), drift: emptyDrift() };
        const online = await OnlineBank.open(snapshot, options, session, defectWeight);
        const record = { ...learnedRecord(context.learnedWith, first, chunks.length, options), augmentation: variants.record };
        owned = false;
        const model = onlinePatchCoreModel(extractor, online, record);
        return { model, save: (path) => model.online.save(path, 1) };
      },
      async release() {
        chunks.length = 0;
        support.release();
        if (owned) await extractor.release();
      },
    };
  }

  return {
    kind: "learning",
    method: "patchcore",
    startRound: async () => createRound(await context.openExtractor()),
    async load(path) {
      const { file, record } = await context.readChecked(path);
      const snapshot = onlineBankFrom(file, path);
      const bank = await withProjection(snapshot.bank, options, session);
      const extractor = await context.openExtractor();
      try {
        return onlinePatchCoreModel(extractor, await OnlineBank.open({ ...snapshot, bank }, options, session, defectWeight), record);
      } catch (error) {
        await extractor.release();
        throw error;
      }
    },
    release: () => context.release(),
  };
}
