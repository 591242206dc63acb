/**
 * Tells which anomalib export contract a graph follows from its inputs and outputs alone.
 * 2.x names its outputs (pred_score, pred_label, anomaly_map, pred_mask); 0.x and 1.x name
 * only output 0 "output" and look alike in the graph, so metadata.json decides between them.
 */
import { DefectError } from "../../errors";
import { type TensorSpec, formatShape } from "../../onnx/feeds";

export const V2_OUTPUTS = {
  score: "pred_score",
  label: "pred_label",
  map: "anomaly_map",
  mask: "pred_mask",
} as const;
/** The name 0.x and 1.x give output 0 (torch.onnx.export output_names=["output"]). */
export const RAW_OUTPUT = "output";

const IMAGE_RANK = 4;
const CHANNEL_AXIS = 1;
const RGB_CHANNELS = 3;
const HEIGHT_AXIS = 2;
const WIDTH_AXIS = 3;

/** How an output's shape reads: [N,1,H,W] or [N,H,W] map, [N] or [N,1] score. */
export type OutputRole = "map" | "score" | "other" | "unknown";

export interface V2Contract {
  kind: "v2";
  /** Output names present in the graph; null where the export left one out. */
  score: string | null;
  label: string | null;
  map: string | null;
  mask: string | null;
}

/** 0.x or 1.x: raw outputs that metadata.json normalises. */
export interface RawContract {
  kind: "raw";
}

export type Contract = V2Contract | RawContract;

export interface InputContract {
  name: string;
  /** Fixed height and width of the graph input; null where they are symbolic. */
  size: { width: number; height: number } | null;
}

export function roleOfShape(shape: ReadonlyArray<number | string>, knownRank = shape.length > 0): OutputRole {
  if (!knownRank) return "unknown";
  const rank = shape.length;
  const single = (axis: number): boolean => typeof shape[axis] === "string" || shape[axis] === 1;
  if (rank === IMAGE_RANK) return single(CHANNEL_AXIS) ? "map" : "other";
  if (rank === IMAGE_RANK - 1) return "map";
  if (rank <= 1) return "score";
  if (rank === 2) return single(1) ? "score" : "other";
  return "other";
}

/** Checks the single RGB NCHW input every anomalib export has. */
export function detectInput(modelName: string, inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): InputContract {
  const input = inputs[0];
  if (inputs.length !== 1 || input === undefined) {
    throw notAnomalib(
      modelName,
      `it has ${inputs.length} inputs (${inputs.map((i) => i.name).join(", ") || "none"}), anomalib exports have one`,
      inputs,
      outputs,
    );
  }
  if (input.type !== "float32") {
    throw notAnomalib(modelName, `its input "${input.name}" is ${input.type}, anomalib exports take float32`, inputs, outputs);
  }
  const shape = input.shape;
  if (shape.length > 0) {
    const channels = shape[CHANNEL_AXIS];
    if (shape.length !== IMAGE_RANK || (typeof channels === "number" && channels !== RGB_CHANNELS)) {
      throw notAnomalib(modelName, `its input "${input.name}" has shape ${formatShape(shape)}, anomalib exports take RGB [N,3,H,W]`, inputs, outputs);
    }
  }
  const height = shape[HEIGHT_AXIS];
  const width = shape[WIDTH_AXIS];
  const size = typeof width === "number" && typeof height === "number" ? { width, height } : null;
  return { name: input.name, size };
}

export function detectContract(modelName: string, inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): Contract {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const present = (name: string): string | null => (byName.has(name) ? name : null);
  const v2: V2Contract = {
    kind: "v2",
    score: present(V2_OUTPUTS.score),
    label: present(V2_OUTPUTS.label),
    map: present(V2_OUTPUTS.map),
    mask: present(V2_OUTPUTS.mask),
  };
  if (v2.score !== null || v2.map !== null) {
    if (v2.label === null && v2.mask === null) {
      throw notAnomalib(
        modelName,
        `it has ${[v2.score, v2.map].filter((n) => n !== null).join(" and ")} but neither pred_label nor pred_mask, so it is an anomalib 2.x export ` +
          `made without its PostProcessor (post_processor=False): its values are raw and nothing says how to normalise them; export with the default PostProcessor`,
        inputs,
        outputs,
      );
    }
    expectRole(modelName, byName.get(V2_OUTPUTS.map), "map", inputs, outputs);
    expectRole(modelName, byName.get(V2_OUTPUTS.mask), "map", inputs, outputs);
    expectRole(modelName, byName.get(V2_OUTPUTS.score), "score", inputs, outputs);
    expectRole(modelName, byName.get(V2_OUTPUTS.label), "score", inputs, outputs);
    return v2;
  }
  const raw = byName.get(RAW_OUTPUT);
  if (raw !== undefined) {
    const role = roleOfShape(raw.shape);
    if (role === "other") {
      throw notAnomalib(
        modelName,
        `its output "${RAW_OUTPUT}" has shape ${formatShape(raw.shape)}, which is neither an anomaly map [N,1,H,W] nor a score [N]`,
        inputs,
        outputs,
      );
    }
    return { kind: "raw" };
  }
  throw notAnomalib(modelName, `none of its outputs has an anomalib name`, inputs, outputs);
}

function expectRole(
  modelName: string,
  spec: TensorSpec | undefined,
  role: "map" | "score",
  inputs: readonly TensorSpec[],
  outputs: readonly TensorSpec[],
): void {
  if (spec === undefined) return;
  const actual = roleOfShape(spec.shape);
  if (actual === role || actual === "unknown") return;
  const expected = role === "map" ? "[N,1,H,W]" : "[N] or [N,1]";
  throw notAnomalib(modelName, `its output "${spec.name}" has shape ${formatShape(spec.shape)}, anomalib 2.x gives ${expected}`, inputs, outputs);
}

function describeSpecs(specs: readonly TensorSpec[]): string {
  return specs.map((s) => `${s.name} ${s.type}${s.shape.length > 0 ? formatShape(s.shape) : "[?]"}`).join(", ") || "none";
}

function notAnomalib(modelName: string, problem: string, inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): DefectError {
  const found = `inputs: ${describeSpecs(inputs)}; outputs: ${describeSpecs(outputs)}`;
  const expected =
    `anomalib 2.x outputs ${Object.values(V2_OUTPUTS).join(", ")}, or anomalib 0.x/1.x output "${RAW_OUTPUT}" ` +
    `(raw map [N,1,H,W] or score [N]) with metadata.json beside the model`;
  return new DefectError("modelLoadFailed", `model "${modelName}" is not a usable anomalib export: ${problem} (found ${found}; expected ${expected})`, {
    model: modelName,
    found,
    expected,
  });
}
