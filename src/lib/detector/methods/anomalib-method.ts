/**
 * anomalib exports for the detector: the model is a file trained elsewhere, so nothing is
 * learned or saved; the check compares msg.preprocessing with what the export expects.
 */
import { basename } from "node:path";
import { NORMALIZED_THRESHOLD, openAnomalibModel, type AnomalibPreprocess } from "../../anomaly/anomalib";
import { DefectError } from "../../errors";
import type { PreprocessOptions } from "../../image/types";
import type { SessionOptions } from "../../onnx";
import type { DetectorSetting, FixedMethod, Sample } from "../types";

export interface AnomalibMethodConfig {
  setting: DetectorSetting;
  /** Absolute path of the export (model.onnx, metadata.json beside it for 0.x/1.x). */
  modelFile: string;
  session: SessionOptions;
}

/** Where two floats from different parsers (JSON metadata, editor text) still mean the same value. */
const TOLERANCE = 1e-6;

function near(a: number, b: number): boolean {
  return Math.abs(a - b) <= TOLERANCE;
}

function nearAll(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => near(v, b[i] as number));
}

function differences(expected: AnomalibPreprocess, given: PreprocessOptions): string[] {
  const out: string[] = [];
  const differ = (field: string, actual: unknown, wanted: unknown): void => {
    out.push(`${field} ${JSON.stringify(actual)} (the export expects ${JSON.stringify(wanted)})`);
  };
  if (expected.width !== null && given.width !== expected.width) differ("width", given.width, expected.width);
  if (expected.height !== null && given.height !== expected.height) differ("height", given.height, expected.height);
  if (given.color !== expected.color) differ("color", given.color, expected.color);
  if (given.layout !== expected.layout) differ("layout", given.layout, expected.layout);
  if (!near(given.scale, expected.scale)) differ("scale", given.scale, expected.scale);
  if (!nearAll(given.mean, expected.mean)) differ("mean", given.mean, expected.mean);
  if (!nearAll(given.std, expected.std)) differ("std", given.std, expected.std);
  return out;
}

function checkPreprocessing(file: string, expected: AnomalibPreprocess, sample: Sample): void {
  if (sample.preprocessing === undefined) return;
  const found = differences(expected, sample.preprocessing);
  if (found.length > 0) {
    throw new DefectError("preprocessMismatch", `msg.preprocessing does not fit the anomalib export ${file}: ${found.join("; ")}`, {
      differences: found.join("; "),
    });
  }
}

export async function openAnomalibMethod(config: AnomalibMethodConfig): Promise<FixedMethod> {
  const model = await openAnomalibModel(config.modelFile, config.session);
  const file = basename(config.modelFile);
  return {
    kind: "fixed",
    method: "anomalib",
    warnings: model.warnings,
    model: {
      // anomalib normalises scores so that its calibrated threshold is 0.5.
      info: { file, version: model.version, threshold: NORMALIZED_THRESHOLD },
      check: (sample) => checkPreprocessing(file, model.preprocess, sample),
      async inspect(tensor) {
        const prediction = await model.predict(tensor);
        return { score: prediction.score, map: prediction.map, timings: {} };
      },
      // Owned by the method: releasing the method releases the session.
      release: async () => undefined,
    },
    release: () => model.release(),
  };
}
