/**
 * The embedded backbone: a small CNN shipped with the package (models/embedded-v2.bin, about
 * 1 MB), so the package works the moment it is installed, with nothing to download and no
 * licence-bound weights.
 *
 * Version 2 design: a ResNet-like network (stem, then three stages of a strided conv and one
 * residual block; 32/64/128 channels at strides 4/8/16, like a ResNet's layer1-3, so the same
 * PatchCore/PaDiM settings apply: "stage2,stage3" ~ "layer2,layer3"). Its weights were trained
 * by experiments/train-embedded-backbone.py, only on the package's own synthetic parts and on
 * procedural textures, to segment synthetic defects and pasted anomalies under heavy lighting,
 * contrast and colour augmentation: features that respond to local irregularities and ignore
 * what varies on good parts. BatchNorm is folded into the convs. Input: ImageNet-normalised RGB
 * (the detector's default preprocessing). Version 1 (seeded zero-mean random filters) reached
 * 0.569 image AUROC on magnetic_tile; the measured figures are in BENCHMARKS.md.
 */
import { DefectError } from "../errors";
import { GraphBuilder, type Value } from "../onnx/graph-builder";
import { readEmbeddedWeights } from "./embedded-weights";

export const EMBEDDED_BACKBONE = "embedded";
export const EMBEDDED_VERSION = 2;
export const EMBEDDED_LAYERS = ["stage1", "stage2", "stage3"] as const;
export const EMBEDDED_DEFAULT_LAYERS = ["stage2", "stage3"];
/** Channels and stride of each output, for checks and documentation. */
export const EMBEDDED_LAYER_SHAPES: Readonly<Record<(typeof EMBEDDED_LAYERS)[number], { channels: number; stride: number }>> = {
  stage1: { channels: 32, stride: 4 },
  stage2: { channels: 64, stride: 8 },
  stage3: { channels: 128, stride: 16 },
};

const KERNEL = 3;
const PAD = 1;
const INPUT_CHANNELS = 3;
const STEM_CHANNELS = 24;

interface ConvSpec {
  name: string;
  in: number;
  out: number;
  stride: number;
}

/** Every conv in the weights file's order (the training script's `Backbone.convs()`). */
export const EMBEDDED_CONVS: readonly ConvSpec[] = [
  { name: "stem", in: INPUT_CHANNELS, out: STEM_CHANNELS, stride: 2 },
  { name: "down1", in: STEM_CHANNELS, out: 32, stride: 2 },
  { name: "block1.a", in: 32, out: 32, stride: 1 },
  { name: "block1.b", in: 32, out: 32, stride: 1 },
  { name: "down2", in: 32, out: 64, stride: 2 },
  { name: "block2.a", in: 64, out: 64, stride: 1 },
  { name: "block2.b", in: 64, out: 64, stride: 1 },
  { name: "down3", in: 64, out: 128, stride: 2 },
  { name: "block3.a", in: 128, out: 128, stride: 1 },
  { name: "block3.b", in: 128, out: 128, stride: 1 },
];

/** Number of float values the weights file holds: each conv's weight then bias. */
export function embeddedWeightCount(): number {
  return EMBEDDED_CONVS.reduce((sum, c) => sum + c.out * c.in * KERNEL * KERNEL + c.out, 0);
}

/** Builds the graph around the weights: stem, then per stage a strided conv and a residual block. */
export function buildEmbeddedGraph(weights: Float32Array): Uint8Array {
  const g = new GraphBuilder({ name: `defect-detection-embedded-v${EMBEDDED_VERSION}` });
  let offset = 0;
  const conv = (x: Value, name: string): Value => {
    const spec = EMBEDDED_CONVS.find((c) => c.name === name);
    if (spec === undefined) throw new DefectError("graphInvalid", `the embedded backbone has no conv "${name}"`, { name });
    const size = spec.out * spec.in * KERNEL * KERNEL;
    const w = g.constant(`${name}.w`, weights.subarray(offset, offset + size), [spec.out, spec.in, KERNEL, KERNEL]);
    const b = g.constant(`${name}.b`, weights.subarray(offset + size, offset + size + spec.out), [spec.out]);
    offset += size + spec.out;
    return g.op("Conv", [x, w, b], { kernel_shape: [KERNEL, KERNEL], pads: [PAD, PAD, PAD, PAD], strides: [spec.stride, spec.stride] });
  };
  let x: Value = g.op("Relu", [conv(g.input("input", "float32", ["N", INPUT_CHANNELS, "H", "W"]), "stem")]);
  for (const [index, stage] of EMBEDDED_LAYERS.entries()) {
    const n = index + 1;
    const down = g.op("Relu", [conv(x, `down${n}`)]);
    const inner = conv(g.op("Relu", [conv(down, `block${n}.a`)]), `block${n}.b`);
    x = g.op("Relu", [g.op("Add", [down, inner])]);
    g.output(x, stage, "float32");
  }
  if (offset !== weights.length) {
    throw new DefectError("graphInvalid", `the embedded backbone uses ${offset} weights but was given ${weights.length}`, {
      expected: offset,
      actual: weights.length,
    });
  }
  return g.build();
}

let built: Promise<Uint8Array> | undefined;

/** The ONNX bytes, built once per process from the shipped weights. */
export function buildEmbeddedBackbone(): Promise<Uint8Array> {
  built ??= readEmbeddedWeights().then(buildEmbeddedGraph);
  built.catch(() => {
    built = undefined;
  });
  return built;
}
