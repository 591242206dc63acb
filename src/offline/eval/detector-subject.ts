/**
 * The detector node's engine as the evaluations drive it: the method the node opens from the
 * same parsed options (openMethod), behind a DetectorEngine that learns the training images as
 * the node learns its training folder (learnAll over folderSamples, then one fit, saved to a
 * throw-away file), and inspects each test image as the node inspects a message. A figure of
 * `eval` is thus a figure of the code an unedited detector node runs with those options.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DetectorEngine, type FitAnswer } from "../../lib/detector/engine";
import { folderSamples } from "../../lib/detector/folder";
import { readLearnedRecord, type LearnedRecord } from "../../lib/detector/storage/learned-record";
import { modelFilePath, openMethod, type MethodExtras } from "../../lib/detector/methods/open-method";
import type { DetectorOptions } from "../../lib/detector/options";
import type { Inspection, ModelInfo } from "../../lib/detector/types";
import { DEFAULT_MAX_PIXELS } from "../../lib/image";
import type { Tensor } from "../../lib/image/types";
import { readModelFile } from "../../lib/persist";
import type { EvalSubject } from "./anomaly-eval";

export interface DetectorSubject {
  readonly options: DetectorOptions;
  /**
   * Learns `files` as one round and fits; a file the round refuses is reported and skipped, as the
   * node does. Answers what the node's learning result carries: the model, and the good scores it
   * hands over for a threshold's calibration (PatchCore).
   */
  learn(files: readonly string[], onSkip: (error: unknown, file: string) => void): Promise<FitAnswer>;
  /** `tensor` made with options.folderPreprocess, as the training images were. */
  inspect(tensor: Tensor): Promise<Inspection>;
  /** What the saved model records about its fit (readable until release). */
  record(): Promise<LearnedRecord>;
  /** Closes the engine and frees the model (bank, sessions); the saved file stays until release. */
  close(): Promise<void>;
  release(): Promise<void>;
}

const LIMITS = { maxPixels: DEFAULT_MAX_PIXELS };
/** How long a release waits for work in progress; an evaluation has none left by then. */
const CLOSE_WAIT_MS = 10_000;

/** `baseDir`: where relative paths in `options` start (the node's user directory; the CLI's working directory). */
export async function openDetectorSubject(options: DetectorOptions, baseDir: string, extras: MethodExtras = {}): Promise<DetectorSubject> {
  const dir = await mkdtemp(join(tmpdir(), "defect-eval-"));
  const modelPath = modelFilePath(dir, "eval");
  let engine: DetectorEngine;
  // The node logs these; an evaluation fails with the first one when it closes.
  const releaseErrors: unknown[] = [];
  try {
    const method = await openMethod(options, baseDir, extras);
    engine = await DetectorEngine.open(method, {
      trainCount: options.trainCount,
      modelPath,
      keepVersions: 0,
      online: options.online,
      onState: () => undefined,
      onReleaseError: (error) => releaseErrors.push(error),
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= engine.close(CLOSE_WAIT_MS));
  return {
    options,
    learn: (files, onSkip) => engine.learnAll(folderSamples(files, options.folderPreprocess, LIMITS, onSkip), onSkip),
    inspect: (tensor) => engine.inspect({ tensor, preprocessing: options.folderPreprocess }),
    record: async () => readLearnedRecord((await readModelFile(modelPath)).metadata, modelPath),
    close,
    async release() {
      try {
        await close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      if (releaseErrors.length > 0) throw releaseErrors[0];
    },
  };
}

/** Bank rows (PatchCore) or Gaussians, one a grid position (PaDiM), as the model info says. */
function modelSize(info: ModelInfo): number | null {
  const size = info["bankSize"] ?? info["positions"];
  return typeof size === "number" ? size : null;
}

/** The subject as anomaly-eval.ts evaluates it. */
export function evalSubjectOf(subject: DetectorSubject, onSkip: (error: unknown, file: string) => void): EvalSubject {
  return {
    async learn(files) {
      const { model: info, calibration } = await subject.learn(files, onSkip);
      return {
        learned: typeof info["trainedOn"] === "number" ? info["trainedOn"] : files.length,
        size: modelSize(info),
        ...(calibration === undefined ? {} : { calibration }),
      };
    },
    inspect: (tensor) => subject.inspect(tensor),
    done: () => subject.close(),
  };
}
