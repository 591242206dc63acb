/**
 * PatchCore as the detector uses it when it learns on the line: the extractor, an OnlineBank,
 * and the learned record. The same DetectorModel as any method, plus `online` for confirmed
 * parts; info.bankSize follows the bank as it grows and is refreshed.
 */
import type { PatchExtractor } from "../../features/extractor";
import type { PatchEmbedding } from "../../features/types";
import { tensorSize } from "../../image/tensor";
import type { Tensor } from "../../image/types";
import { learnedRecordMetadata, shapeOfRecord, type LearnedRecord } from "../storage/learned-record";
import type { OnlineBank } from "./online-bank";
import { saveOnlineBank } from "../storage/online-store";
import { checkSample } from "../sample";
import type { DetectorModel, Inspection, OnlineModel, PartFeatures } from "../types";

/** The evidence an inspection reports: of the defect bank and of the patch head, where each is used. */
function evidenceOf(scores: {
  defectEvidence: number | undefined;
  headEvidence: number | undefined;
  appearance?: number;
  lookalikes?: number;
}): Pick<Inspection, "defectEvidence" | "headEvidence" | "appearance" | "lookalikes"> {
  return {
    ...(scores.appearance === undefined ? {} : { appearance: scores.appearance }),
    ...(scores.lookalikes === undefined ? {} : { lookalikes: scores.lookalikes }),
    ...(scores.defectEvidence === undefined ? {} : { defectEvidence: scores.defectEvidence }),
    ...(scores.headEvidence === undefined ? {} : { headEvidence: scores.headEvidence }),
  };
}

export type OnlineDetectorModel = DetectorModel & { readonly online: OnlineModel };

/**
 * A part's features scored against the banks, as every inspection of the model scores them:
 * the inspection (without the backbone's time) and what a later verdict needs. Sweeps that
 * reuse features score through here too.
 */
export async function scoreEmbedding(
  bank: OnlineBank,
  embedding: PatchEmbedding,
  width: number,
  height: number,
): Promise<{ inspection: Inspection; part: PartFeatures }> {
  const t0 = performance.now();
  const scored = await bank.score(embedding, width, height);
  const total = performance.now() - t0;
  const timings = { scoringMs: total - scored.mapMs, postMs: scored.mapMs };
  return {
    inspection: { score: scored.score, map: scored.map, timings, ...evidenceOf(scored) },
    // Against the good bank alone: a defect's patches are picked by how far they are from good
    // parts, and drift follows PatchCore scores whatever defects were learned.
    part: {
      data: embedding.data,
      patches: embedding.patches,
      dim: embedding.dim,
      gridWidth: embedding.gridWidth,
      gridHeight: embedding.gridHeight,
      patchScores: scored.goodGrid.data,
      score: scored.goodScore,
    },
  };
}

export function onlinePatchCoreModel(extractor: PatchExtractor, bank: OnlineBank, record: LearnedRecord): OnlineDetectorModel {
  const shape = shapeOfRecord(record);

  async function inspectPart(tensor: Tensor, remember = true): Promise<{ inspection: Inspection; part: PartFeatures | undefined }> {
    const { width, height } = tensorSize(tensor);
    const run = await bank.inspect(extractor, tensor, width, height, remember);
    const { scores } = run;
    const timings = { backboneMs: run.backboneMs, scoringMs: run.scoringMs, postMs: scores.mapMs };
    const inspection: Inspection = {
      score: scores.score,
      map: scores.map,
      timings,
      ...evidenceOf(scores),
    };
    if (!remember || run.embedding === undefined) return { inspection, part: undefined };
    const e = run.embedding;
    // Against the good bank alone, as scoreEmbedding.
    const part = { data: e.data, patches: e.patches, dim: e.dim, gridWidth: e.gridWidth, gridHeight: e.gridHeight };
    return { inspection, part: { ...part, patchScores: scores.goodGrid.data, score: scores.goodScore } };
  }

  // The fused graph for this input size, built before the first inspection rather than in it.
  const { width, height } = tensorSize(record.input);
  void bank.prepareWith((pair) => pair.prepare(extractor, width, height));

  const online: OnlineModel = {
    inspectPart: inspectPart as OnlineModel["inspectPart"],
    add: (verdict, part, region) => bank.add(verdict, part, region),
    flush: () => bank.flush(),
    counts: () => bank.counts(),
    get drift() {
      return bank.drift;
    },
    set drift(record) {
      bank.drift = record;
    },
    save(path, version) {
      bank.counters = { ...bank.counters, version };
      return saveOnlineBank(path, bank.snapshot(), learnedRecordMetadata(record));
    },
    onSwap: (listener) => bank.onSwap(listener),
    onError: (listener) => bank.onError(listener),
    idle: () => bank.idle(),
    async calibration() {
      const scores = await bank.leftOutScores(extractor);
      return scores === undefined ? undefined : { kind: "leave-one-out", scores };
    },
  };

  return {
    get info() {
      // Variant images learned by support-set augmentation; unknown (left out) for older files.
      const counts = bank.counts();
      const info: Record<string, string | number> = { bankSize: counts.good, trainedOn: record.trainedOn };
      if (record.augmentation !== undefined) info["variants"] = record.augmentation.variants;
      // created names the fit, version the save since it (1 = the fit): the pair names the model a result came from.
      return { ...info, created: record.created, version: counts.version };
    },
    check: (sample) => checkSample(shape, sample, "model"),
    inspect: async (tensor) => (await inspectPart(tensor, false)).inspection,
    async release() {
      await bank.release();
      await extractor.release();
    },
    online,
  };
}
