/**
 * The embedded backbone: a small CNN whose weights are generated deterministically in code, so
 * the package works the moment it is installed, with nothing to download and no licence-bound
 * weights to ship.
 *
 * Version 1 design: three conv stages with seeded zero-mean, unit-norm filters. Each stage keeps
 * both polarities of its responses (ReLU of x and -x) because defects are as often darker as
 * brighter than the surface, then average-pools by 2. Zero-mean filters make the features
 * ignore slow brightness changes (lighting) and respond to texture and edges, which is what the
 * patch-level anomaly methods compare. Outputs at strides 4, 8 and 16 mirror a ResNet's
 * layer1-3, so the same PatchCore/PaDiM settings apply ("stage2,stage3" ~ "layer2,layer3").
 * Measured against the ImageNet-pretrained ResNet in BENCHMARKS.md.
 */
import { GraphBuilder, type Value } from "../onnx/graph-builder";
import { Rng } from "../synth/random";

export const EMBEDDED_BACKBONE = "embedded";
export const EMBEDDED_VERSION = 1;
export const EMBEDDED_LAYERS = ["stage1", "stage2", "stage3"] as const;
export const EMBEDDED_DEFAULT_LAYERS = ["stage2", "stage3"];
const SEED = 20261125;

/** `count` conv filters of seeded uniform values, each made zero-mean and unit-norm. */
export function zeroMeanFilters(count: number, channels: number, size: number, rng: Rng): Float32Array {
  const per = channels * size * size;
  const w = new Float32Array(count * per);
  for (let f = 0; f < count; f++) {
    let mean = 0;
    for (let i = 0; i < per; i++) {
      const v = rng.range(-1, 1);
      w[f * per + i] = v;
      mean += v;
    }
    mean /= per;
    let norm = 0;
    for (let i = 0; i < per; i++) {
      const v = (w[f * per + i] as number) - mean;
      w[f * per + i] = v;
      norm += v * v;
    }
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < per; i++) w[f * per + i] = (w[f * per + i] as number) * scale;
  }
  return w;
}

interface StageSpec {
  name: string;
  filters: number;
  kernel: number;
  stride: number;
}

const STAGES: readonly StageSpec[] = [
  { name: "stage1", filters: 32, kernel: 5, stride: 2 },
  { name: "stage2", filters: 64, kernel: 3, stride: 1 },
  { name: "stage3", filters: 128, kernel: 3, stride: 1 },
];

export function buildEmbeddedBackbone(): Uint8Array {
  const rng = new Rng(SEED);
  const g = new GraphBuilder({ name: `defect-detection-embedded-v${EMBEDDED_VERSION}` });
  let x: Value = g.input("input", "float32", ["N", 3, "H", "W"]);
  let channels = 3;
  for (const stage of STAGES) {
    const pad = (stage.kernel - 1) / 2;
    const w = g.constant(`${stage.name}.w`, zeroMeanFilters(stage.filters, channels, stage.kernel, rng), [stage.filters, channels, stage.kernel, stage.kernel]);
    const conv = g.op("Conv", [x, w], { kernel_shape: [stage.kernel, stage.kernel], pads: [pad, pad, pad, pad], strides: [stage.stride, stage.stride] });
    const both = g.op("Concat", [g.op("Relu", [conv]), g.op("Relu", [g.op("Neg", [conv])])], { axis: 1 });
    x = g.op("AveragePool", [both], { kernel_shape: [2, 2], strides: [2, 2] });
    g.output(x, stage.name, "float32");
    channels = stage.filters * 2;
  }
  return g.build();
}
