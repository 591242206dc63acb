/**
 * Turns the output tensors of one anomalib inference into a prediction on anomalib's own
 * normalised scale (0..1, threshold at 0.5), following each version's inferencer.
 */
import { DefectError } from "../../errors";
import type { ScoreMap } from "../../image/types";
import { formatShape } from "../../onnx/feeds";
import { RAW_OUTPUT, type V2Contract, roleOfShape } from "./detect";
import type { AnomalibMetadata } from "./metadata";
import { NORMALIZED_THRESHOLD, mapMax, maskAbove, maskAtLeast, normalizeMap, normalizeValue } from "./normalize";

export interface AnomalibPrediction {
  /** Normalised anomaly score, 0..1; 0.5 is the threshold anomalib calibrated. */
  score: number;
  /** Score before normalisation (0.x/1.x); null for 2.x, which only outputs normalised values. */
  rawScore: number | null;
  /** Anomalous, decided as the version's inferencer decides it (see `postprocessV2`/`postprocessRaw`). */
  label: boolean;
  /** Normalised anomaly map at the resolution the graph outputs; null for classification exports. */
  map: ScoreMap | null;
  /** Map before normalisation (0.x/1.x); null for 2.x. */
  rawMap: ScoreMap | null;
  /** One byte a pixel of `map`, 1 = anomalous; null without a map or pixel threshold. */
  mask: Uint8Array | null;
}

/** What is read from an output; an `ort.Tensor` fits. */
export interface OutputTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export type Outputs = Readonly<Record<string, OutputTensor>>;

const MAP_RANK = 4;

/**
 * 2.x: the graph normalised and thresholded already. Where the export left an output out,
 * it is derived as the 2.x PostProcessor would: score = max of the map, label = score > 0.5,
 * mask = map > 0.5 (strictly greater, unlike 1.x).
 */
export function postprocessV2(modelName: string, contract: V2Contract, outputs: Outputs): AnomalibPrediction {
  const map = contract.map === null ? null : readMap(modelName, contract.map, output(modelName, outputs, contract.map));
  const score = contract.score === null ? maxOf(modelName, map) : readSingle(modelName, contract.score, output(modelName, outputs, contract.score));
  const label =
    contract.label === null ? score > NORMALIZED_THRESHOLD : readSingle(modelName, contract.label, output(modelName, outputs, contract.label)) !== 0;
  let mask: Uint8Array | null = null;
  if (contract.mask !== null) mask = readMask(modelName, contract.mask, output(modelName, outputs, contract.mask), map);
  else if (map !== null) mask = maskAbove(map, NORMALIZED_THRESHOLD);
  return { score, rawScore: null, label, map, rawMap: null, mask };
}

/**
 * 0.x/1.x: raw outputs normalised with metadata.json. The score is the graph's own score
 * output when it has one (PatchCore's re-weighted score, on which the thresholds and min/max
 * were computed), else the map's maximum; label and mask compare raw values with `>=`, as
 * the 0.x/1.x inferencers do.
 */
export function postprocessRaw(modelName: string, metadata: AnomalibMetadata, outputs: Outputs, order: readonly string[]): AnomalibPrediction {
  const mapName = pickOutput(outputs, order, "map");
  const scoreName = pickOutput(outputs, order, "score");
  if (mapName === null && scoreName === null) {
    const found = order.map((n) => `${n} ${formatShape(outputs[n]?.dims ?? [])}`).join(", ");
    throw new DefectError("inferenceFailed", `model "${modelName}" returned neither an anomaly map [1,1,H,W] nor a score [1] (outputs: ${found})`, {
      model: modelName,
      found,
    });
  }
  const rawMap = mapName === null ? null : readMap(modelName, mapName, output(modelName, outputs, mapName));
  const rawScore = scoreName === null ? maxOf(modelName, rawMap) : readSingle(modelName, scoreName, output(modelName, outputs, scoreName));
  return {
    score: normalizeValue(rawScore, metadata.image),
    rawScore,
    label: rawScore >= metadata.image.threshold,
    map: rawMap === null || metadata.pixel === null ? null : normalizeMap(rawMap, metadata.pixel),
    rawMap,
    mask: rawMap === null || metadata.pixelThreshold === null ? null : maskAtLeast(rawMap, metadata.pixelThreshold),
  };
}

/** "output" when it plays the role, else the first other output (graph order) that does. */
function pickOutput(outputs: Outputs, order: readonly string[], role: "map" | "score"): string | null {
  const roleOf = (name: string): string | null => {
    const tensor = outputs[name];
    return tensor === undefined ? null : roleOfShape(tensor.dims, true);
  };
  if (roleOf(RAW_OUTPUT) === role) return RAW_OUTPUT;
  return order.find((name) => name !== RAW_OUTPUT && roleOf(name) === role) ?? null;
}

function output(modelName: string, outputs: Outputs, name: string): OutputTensor {
  const tensor = outputs[name];
  if (tensor === undefined)
    throw new DefectError("inferenceFailed", `model "${modelName}" did not return output "${name}"`, { model: modelName, output: name });
  return tensor;
}

function numbers(modelName: string, name: string, tensor: OutputTensor): ArrayLike<number> {
  const data = tensor.data;
  if (data instanceof Float32Array || data instanceof Float64Array || (tensor.type === "bool" && data instanceof Uint8Array)) return data;
  throw new DefectError("inferenceFailed", `model "${modelName}" output "${name}" is ${tensor.type}; expected float32, float64 or bool`, {
    model: modelName,
    output: name,
    actual: tensor.type,
  });
}

function readSingle(modelName: string, name: string, tensor: OutputTensor): number {
  const data = numbers(modelName, name, tensor);
  const value = data[0];
  if (data.length !== 1 || value === undefined) {
    throw new DefectError("inferenceFailed", `model "${modelName}" output "${name}" has shape ${formatShape(tensor.dims)}; expected one value for one image`, {
      model: modelName,
      output: name,
      actual: formatShape(tensor.dims),
    });
  }
  return value;
}

function readMap(modelName: string, name: string, tensor: OutputTensor): ScoreMap {
  const dims = tensor.dims;
  const height = dims[dims.length - 2];
  const width = dims[dims.length - 1];
  const leading = dims.slice(0, -2);
  if (roleOfShape(dims, true) !== "map" || leading.some((d) => d !== 1) || height === undefined || width === undefined) {
    const expected = dims.length === MAP_RANK ? "[1,1,H,W]" : "[1,H,W]";
    throw new DefectError("inferenceFailed", `model "${modelName}" output "${name}" has shape ${formatShape(dims)}; expected ${expected} for one image`, {
      model: modelName,
      output: name,
      actual: formatShape(dims),
    });
  }
  // A copy: onnxruntime may reuse the output buffer, and callers keep maps around.
  return { data: Float32Array.from(numbers(modelName, name, tensor)), width, height };
}

function readMask(modelName: string, name: string, tensor: OutputTensor, map: ScoreMap | null): Uint8Array {
  const values = readMap(modelName, name, tensor);
  if (map !== null && (values.width !== map.width || values.height !== map.height)) {
    throw new DefectError(
      "inferenceFailed",
      `model "${modelName}" output "${name}" is ${values.width}x${values.height} but its anomaly map is ${map.width}x${map.height}`,
      {
        model: modelName,
        output: name,
      },
    );
  }
  return Uint8Array.from(values.data, (v) => (v !== 0 ? 1 : 0));
}

function maxOf(modelName: string, map: ScoreMap | null): number {
  if (map === null) throw new DefectError("inferenceFailed", `model "${modelName}" returned no score and no anomaly map`, { model: modelName });
  return mapMax(map);
}
