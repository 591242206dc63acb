/**
 * Template comparison for the detector (unsupervised setting, method "template"), for aligned
 * parts such as printed boards and labels: the good images learned are the references. A part
 * is compared with the reference it matches best (reference-set.ts), aligned onto it and
 * compared under the normal-difference model as `eval --method template` does (printed-parts.ts
 * says which model); its map and score are on the reported scale (template-score.ts), where the
 * model's operating point is 0.5, so they flow on to the threshold and mask-to-region nodes like
 * any anomaly map. The comparison runs on a worker thread (template-worker.ts).
 */
import { printedPartsModel } from "../../anomaly/template/printed-parts";
import { quantizePlane } from "../../anomaly/template/reference-set";
import { DEFAULT_REGISTRATION, type RegistrationOptions } from "../../anomaly/template/registration";
import { tensorToPlane } from "../../anomaly/template/tensor-plane";
import { OPERATING_POINT } from "../../anomaly/template/template-score";
import { DefectError } from "../../errors";
import { readModelFile } from "../../persist";
import { learnedRecord } from "./backbone-context";
import {
  checkLearnedWith,
  learnedRecordMetadata,
  readLearnedRecord,
  shapeOfRecord,
  type BackboneRecord,
  type LearnedRecord,
  type LearnedWith,
} from "../storage/learned-record";
import { checkSample, shapeOf, type SampleShape } from "../sample";
import { concatenateInSlices, saveTemplateReferences, sharedPixels, templateReferencesFrom, type StoredReferences } from "../storage/template-store";
import type { TemplateOptions } from "./template-options";
import { TemplateThread } from "./template-thread";
import type { DetectorModel, DetectorSetting, FittedModel, LearningMethod, LearningRound } from "../types";

/** The references of one detector are held in memory (8 bits a pixel): 1 GiB is about 2,600 references of 640x640. */
export const MAX_REFERENCE_BYTES = 1024 * 1024 * 1024;

/** Template comparison has no backbone: its record names none, so a file of another method is refused. */
export const NO_BACKBONE: Readonly<BackboneRecord> = Object.freeze({ name: "none", size: 0, sha256: "none", input: "none" });

export interface TemplateMethodConfig {
  setting: DetectorSetting;
  options: TemplateOptions;
}

function registrationFor(options: TemplateOptions): RegistrationOptions {
  return { ...DEFAULT_REGISTRATION, global: { ...DEFAULT_REGISTRATION.global, maxShift: options.maxShift } };
}

/** The model answering inspections: the references on their worker, compared with `options`. */
async function templateModel(stored: StoredReferences, record: LearnedRecord, options: TemplateOptions): Promise<DetectorModel> {
  const { width, height, count, names, pixels } = stored;
  const thread = await TemplateThread.start({
    width,
    height,
    count,
    pixels,
    model: printedPartsModel(options.tolerance),
    registration: registrationFor(options),
  });
  const shape = shapeOfRecord(record);
  return {
    info: { references: count, trainedOn: record.trainedOn, created: record.created, threshold: OPERATING_POINT },
    check: (sample) => checkSample(shape, sample, "model"),
    async inspect(tensor) {
      // The learned planes were made with the record's preprocessing; check() made sure this one matches.
      const reply = await thread.inspect(tensorToPlane(tensor, record.preprocessing).data);
      const { match, align, compare, post } = reply.timings;
      return {
        score: reply.score,
        map: { data: reply.map, width, height },
        timings: { scoringMs: match + align + compare, postMs: post },
        reference: {
          index: reply.index,
          name: names[reply.index] ?? `reference ${reply.index + 1}`,
          similarity: reply.similarity,
          ...(reply.copyOf === undefined ? {} : { copyOf: reply.copyOf }),
        },
      };
    },
    release: () => thread.release(),
  };
}

export async function openTemplateMethod(config: TemplateMethodConfig): Promise<LearningMethod> {
  const { options } = config;
  const learnedWith: LearnedWith = {
    setting: config.setting,
    method: "template",
    backbone: { ...NO_BACKBONE },
    layers: [],
    standardize: false,
    evenExposure: false,
    neighbourhood: [],
  };

  function createRound(): LearningRound {
    const references: Uint8Array[] = [];
    const names: string[] = [];
    let first: SampleShape | undefined;
    let size = { width: 0, height: 0 };
    return {
      get count() {
        return references.length;
      },
      async add(sample) {
        if (first !== undefined) checkSample(first, sample, "round");
        const shape = first ?? shapeOf(sample);
        const plane = tensorToPlane(sample.tensor, shape.preprocessing);
        if ((references.length + 1) * plane.data.length > MAX_REFERENCE_BYTES) {
          throw new DefectError(
            "invalidOption",
            `${references.length + 1} references of ${plane.width}x${plane.height} would take more than ${MAX_REFERENCE_BYTES / 2 ** 30} GiB: learn fewer, or smaller images`,
            {
              option: "trainCount",
              value: references.length + 1,
            },
          );
        }
        references.push(quantizePlane(plane));
        names.push(sample.name ?? `reference ${references.length}`);
        size = { width: plane.width, height: plane.height };
        first = shape;
      },
      async fit(): Promise<FittedModel> {
        if (first === undefined) throw new DefectError("notTrained", "nothing to fit: no reference has been learned yet", { count: 0 });
        const n = size.width * size.height;
        const pixels = sharedPixels(references.length * n);
        await concatenateInSlices(new Uint8Array(pixels), references);
        const stored: StoredReferences = { ...size, count: references.length, names: [...names], pixels };
        const record = learnedRecord(learnedWith, first, references.length, options);
        const model = await templateModel(stored, record, options);
        return { model, save: (path) => saveTemplateReferences(path, stored, learnedRecordMetadata(record)) };
      },
      async release() {
        references.length = 0;
        names.length = 0;
      },
    };
  }

  return {
    kind: "learning",
    method: "template",
    startRound: async () => createRound(),
    async load(path) {
      const file = await readModelFile(path);
      const record = readLearnedRecord(file.metadata, path);
      checkLearnedWith(record, learnedWith, path);
      return templateModel(await templateReferencesFrom(file, path), record, options);
    },
    // Each model owns its worker; the method itself holds nothing.
    release: async () => undefined,
  };
}
