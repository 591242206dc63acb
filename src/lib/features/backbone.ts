/**
 * A CNN backbone given as an ONNX file whose graph outputs include intermediate layers
 * (e.g. a torchvision ResNet exported with `layer2`, `layer3` as outputs).
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../errors";
import type { Tensor } from "../image/types";
import { acquireModel, acquireModelFromBytes, type ModelHandle, type SessionOptions } from "../onnx";
import { buildEmbeddedBackbone, EMBEDDED_BACKBONE, EMBEDDED_VERSION } from "./embedded";
import type { FeatureMap } from "./types";

export interface BackboneConfig {
  /** Path of the ONNX file, or "embedded" for the built-in backbone. */
  model: string;
  /** Output names to extract, finest (largest grid) first. */
  layers: string[];
  session?: SessionOptions;
}

export interface Backbone {
  /** What a saved model must match: the file, its input and the layers used. */
  readonly identity: BackboneIdentity;
  /** The session it runs on (for models chained after it). */
  readonly model: ModelHandle;
  extract(tensor: Tensor): Promise<FeatureMap[]>;
  release(): Promise<void>;
}

export interface BackboneIdentity {
  name: string;
  inputName: string;
  layers: string[];
}

function toFeatureMap(name: string, value: ort.Tensor): FeatureMap {
  const dims = value.dims;
  if (dims.length !== 4 || dims[0] !== 1 || !(value.data instanceof Float32Array)) {
    throw new DefectError("inferenceFailed", `backbone output "${name}" must be float32 [1,C,H,W], got ${value.type} [${dims.join(",")}]`, {
      output: name,
    });
  }
  return { name, data: value.data, channels: dims[1] as number, height: dims[2] as number, width: dims[3] as number };
}

export async function openOnnxBackbone(config: BackboneConfig): Promise<Backbone> {
  if (config.layers.length === 0) {
    throw new DefectError("invalidOption", "a backbone needs at least one layer", { option: "layers", value: "" });
  }
  const model: ModelHandle =
    config.model === EMBEDDED_BACKBONE
      ? await acquireModelFromBytes(`${EMBEDDED_BACKBONE}-v${EMBEDDED_VERSION}`, await buildEmbeddedBackbone(), config.session)
      : await acquireModel(config.model, config.session);
  const outputs = model.outputs.map((o) => o.name);
  const missing = config.layers.filter((l) => !outputs.includes(l));
  const input = model.inputs[0];
  if (missing.length > 0 || input === undefined || model.inputs.length !== 1) {
    await model.release();
    if (missing.length > 0) {
      throw new DefectError(
        "invalidOption",
        `backbone "${model.name}" has no output ${missing.map((m) => `"${m}"`).join(", ")} (its outputs: ${outputs.join(", ")})`,
        {
          option: "layers",
          value: missing.join(","),
          expected: outputs.join(","),
        },
      );
    }
    throw new DefectError("modelLoadFailed", `backbone "${model.name}" must have exactly one image input`, { path: config.model });
  }
  const identity: BackboneIdentity = { name: model.name, inputName: input.name, layers: [...config.layers] };
  return {
    identity,
    model,
    async extract(tensor) {
      const feed = new ort.Tensor("float32", tensor.data, tensor.dims);
      const result = await model.run({ [input.name]: feed }, config.layers);
      return config.layers.map((layer) => toFeatureMap(layer, result[layer] as ort.Tensor));
    },
    release: () => model.release(),
  };
}
