/**
 * The exposure evening of image/exposure.ts as an ONNX graph, chained in front of the backbone on
 * its session worker (fused-scoring.ts): an inspection's two passes over the tensor (about 1-1.5 ms
 * at 256 x 256 x 3) then leave Node-RED's thread with the backbone's work. Every inspected image is
 * evened by it, the first after a restart too, so an image scores the same bits either way.
 */
import { acquireBuiltModel, GraphBuilder, type ModelHandle, type Placement, type SessionOptions } from "../onnx";
import type { BuildJob } from "../onnx/worker-protocol";
import { channelStats, EVEN_EXPOSURE_TARGET, MAX_EXPOSURE_GAIN, type TensorNormalisation } from "../image/exposure";
import type { TensorLayout } from "../image/types";

export const EXPOSURE_INPUT = "tensor";
export const EXPOSURE_OUTPUT = "evened";

export interface ExposureGraphJob {
  norm: TensorNormalisation;
  channels: number;
  layout: TensorLayout;
}

/** out = g x + (g - 1) mean / std, g = clip(target / mean pixel, 1 / MAX, MAX), 1 where the image has no light. */
export function buildExposureGraph(job: ExposureGraphJob): Uint8Array {
  const { norm, channels, layout } = job;
  const g = new GraphBuilder({ name: "even-exposure" });
  const nchw = layout === "NCHW";
  const x = g.input(EXPOSURE_INPUT, "float32", nchw ? [1, channels, "H", "W"] : [1, "H", "W", channels]);
  const shape = nchw ? [1, channels, 1, 1] : [1, 1, 1, channels];
  const stats = Array.from({ length: channels }, (_, c) => channelStats(norm, c));
  const std = stats.map((c) => c.std);
  const mean = stats.map((c) => c.mean);
  const s = g.constantFloat("std", std, shape);
  const m = g.constantFloat("mean", mean, shape);
  const shift = g.constantFloat(
    "meanOverStd",
    mean.map((v, c) => v / (std[c] as number)),
    shape,
  );
  const scalar = (name: string, value: number) => g.constantFloat(name, [value], []);
  const pixels = g.op("Add", [g.op("Mul", [x, s]), m]);
  const brightness = g.op("Div", [g.op("ReduceMean", [pixels], { keepdims: 0 }), scalar("scale", norm.scale)]);
  const clipped = g.op("Clip", [
    g.op("Div", [scalar("target", EVEN_EXPOSURE_TARGET), brightness]),
    scalar("minGain", 1 / MAX_EXPOSURE_GAIN),
    scalar("maxGain", MAX_EXPOSURE_GAIN),
  ]);
  const one = scalar("one", 1);
  const gain = g.op("Where", [g.op("Greater", [brightness, scalar("zero", 0)]), clipped, one]);
  const out = g.op("Add", [g.op("Mul", [x, gain]), g.op("Mul", [g.op("Sub", [gain, one]), shift])]);
  g.output(out, EXPOSURE_OUTPUT, "float32");
  return g.build();
}

/** The session worker's entry (onnx ModelBuilder): only acquireExposureGraph below sends it jobs. */
export function buildModel(job: BuildJob): Uint8Array {
  return buildExposureGraph(job as unknown as ExposureGraphJob);
}

/** Loaded beside `placement.beside` (the backbone) so the two run as one chain; one per backbone session and normalisation. */
export function acquireExposureGraph(
  job: ExposureGraphJob,
  backbone: ModelHandle,
  session: SessionOptions | undefined,
  placement: Placement,
): Promise<ModelHandle> {
  const key = `even-exposure:${backbone.name}:${job.layout}:${job.channels}:${job.norm.scale}:${job.norm.mean.join(",")}:${job.norm.std.join(",")}`;
  return acquireBuiltModel(key, __filename, { ...job } as unknown as BuildJob, session, placement);
}
