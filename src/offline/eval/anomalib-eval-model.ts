/**
 * An anomalib export seen through the evaluation's eyes: a fixed AnomalyModel (nothing to learn)
 * and, per image, the preprocessing the export was trained with.
 */
import { openAnomalibModel, type AnomalibModel } from "../../lib/anomaly/anomalib";
import { upsampleBilinear } from "../../lib/anomaly/map-ops";
import type { AnomalyModel } from "../../lib/anomaly/types";
import { parsePreprocessOptions, probeImage, type DecodeLimits } from "../../lib/image";
import type { PreprocessOptions, Rect, ScoreMap, Tensor } from "../../lib/image/types";
import type { SessionOptions } from "../../lib/onnx";

export interface AnomalibEvalModel {
  model: AnomalyModel;
  /** The export's preprocessing; its width and height are where maps and masks are compared. */
  preprocess: PreprocessOptions;
  /** The options for one image (0.x centre crops depend on the image's size). */
  preprocessFor(bytes: Buffer, limits: DecodeLimits): Promise<PreprocessOptions>;
  version: AnomalibModel["version"];
  warnings: readonly string[];
  /** False once the export answered without a map (classification exports): no pixel metrics. */
  hasMaps(): boolean;
}

/**
 * 0.x "stretch to A then cut the centre B" equals cropping the matching centre of the original
 * and stretching it to B, which is what an ROI followed by a stretch does.
 */
function centreCropRoi(source: { width: number; height: number }, from: { width: number; height: number }, to: { width: number; height: number }): Rect {
  const width = (source.width * to.width) / from.width;
  const height = (source.height * to.height) / from.height;
  return { x: (source.width - width) / 2, y: (source.height - height) / 2, width, height };
}

/** Maps at the graph's own resolution are resized to the tensor's, where the masks are compared. */
function toTensorSize(map: ScoreMap, tensor: Tensor): ScoreMap {
  const height = tensor.dims[2] as number;
  const width = tensor.dims[3] as number;
  return map.width === width && map.height === height ? map : upsampleBilinear(map, width, height);
}

function constantMap(score: number, tensor: Tensor): ScoreMap {
  const height = tensor.dims[2] as number;
  const width = tensor.dims[3] as number;
  return { data: new Float32Array(width * height).fill(score), width, height };
}

export async function openAnomalibEvalModel(modelFile: string, size: number, session: SessionOptions): Promise<AnomalibEvalModel> {
  const anomalib = await openAnomalibModel(modelFile, session.intraOpThreads === undefined ? {} : { intraOpThreads: session.intraOpThreads });
  const p = anomalib.preprocess;
  const base = parsePreprocessOptions({
    preset: "none",
    width: p.width ?? size,
    height: p.height ?? size,
    resize: "stretch",
    color: p.color,
    layout: p.layout,
    scale: p.scale,
    mean: p.mean,
    std: p.std,
  });
  let maps = true;
  const model: AnomalyModel = {
    async inspect(tensor) {
      const started = performance.now();
      const prediction = await anomalib.predict(tensor);
      const graphMs = performance.now() - started;
      if (prediction.map === null) maps = false;
      const raw = prediction.map ?? constantMap(prediction.score, tensor);
      const postStart = performance.now();
      const map = toTensorSize(raw, tensor);
      // The whole graph (backbone and anomalib's own scoring) is one call: it counts as backbone.
      return { score: prediction.score, map, timings: { backboneMs: graphMs, scoringMs: 0, postMs: performance.now() - postStart } };
    },
    release: () => anomalib.release(),
  };
  return {
    model,
    preprocess: base,
    version: anomalib.version,
    warnings: anomalib.warnings,
    hasMaps: () => maps,
    async preprocessFor(bytes, limits) {
      if (p.centerCropFrom === null) return base;
      const info = await probeImage(bytes, limits);
      return { ...base, roi: centreCropRoi(info, p.centerCropFrom, { width: base.width, height: base.height }) };
    },
  };
}
