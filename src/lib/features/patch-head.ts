/**
 * PatchCore's locally aware patch features, as a small ONNX graph run after the backbone:
 * each layer 3x3 average-pooled (stride 1, zero padding counted, as torch's AvgPool2d(3,1,1)),
 * coarser layers resized bilinearly (align_corners=False) to the finest layer's grid,
 * concatenated on channels and laid out as [patches, channels].
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder, type Value } from "../onnx/graph-builder";
import { acquireModelFromBytes, type ModelHandle, type SessionOptions } from "../onnx";
import type { FeatureMap, PatchEmbedding } from "./types";

export interface LayerShape {
  name: string;
  channels: number;
  height: number;
  width: number;
}

/**
 * Adds the head's pooling to `g`: one input per layer (in0, in1, ...), each layer pooled and
 * resized to the finest grid, as [channels, patches] (the features untransposed, per layer).
 * The fused PatchCore scoring projects these parts without ever concatenating them.
 */
export interface PooledLayers {
  /** Each layer's pooled features at the first layer's grid, [channels_i, patches]. */
  parts: Value[];
  /** Each layer's pooled map before it is resized to that grid, [1, channels_i, height_i, width_i]. */
  pooled: Value[];
  patches: number;
  dim: number;
}

/** Resizes [1, c, h, w] maps to the first layer's grid as the head does (bilinear, half-pixel centres). */
export function resizeToGrid(g: GraphBuilder, map: Value, channels: number, grid: LayerShape, name: string): Value {
  const sizes = g.constantInt64(name, [1, channels, grid.height, grid.width]);
  return g.op("Resize", [map, null, null, sizes], { mode: "linear", coordinate_transformation_mode: "half_pixel" });
}

/** Each layer's averaging window: one for all, or one a layer (neighbourhood.ts). */
export type PoolWindows = number | readonly number[];

/** A key part naming the windows, for caches of graphs built with them. */
export function poolKey(pool: PoolWindows): string {
  return typeof pool === "number" ? String(pool) : pool.join("/");
}

export function addPooledLayers(g: GraphBuilder, layers: readonly LayerShape[], windows: PoolWindows = 3): PooledLayers {
  const first = layers[0];
  if (first === undefined) throw new RangeError("at least one layer is needed");
  if (typeof windows !== "number" && windows.length !== layers.length) throw new RangeError(`${windows.length} pooling windows for ${layers.length} layers`);
  const patches = first.height * first.width;
  const pooled = layers.map((layer, i) => {
    const x = g.input(`in${i}`, "float32", [1, layer.channels, layer.height, layer.width]);
    const pool = typeof windows === "number" ? windows : (windows[i] as number);
    return pool > 1 ? g.op("AveragePool", [x], { kernel_shape: [pool, pool], strides: [1, 1], pads: Array(4).fill((pool - 1) / 2), count_include_pad: 1 }) : x;
  });
  const parts = layers.map((layer, i) => {
    const y =
      layer.height !== first.height || layer.width !== first.width
        ? resizeToGrid(g, pooled[i] as Value, layer.channels, first, `size${i}`)
        : (pooled[i] as Value);
    return g.op("Reshape", [y, g.constantInt64(`flat${i}`, [layer.channels, patches])]);
  });
  return { parts, pooled, patches, dim: layers.reduce((sum, l) => sum + l.channels, 0) };
}

export function buildPatchHeadModel(layers: readonly LayerShape[], pool: PoolWindows = 3): Uint8Array {
  const g = new GraphBuilder({ name: "patch-head" });
  const head = addPooledLayers(g, layers, pool);
  const joined = head.parts.length > 1 ? g.op("Concat", head.parts, { axis: 0 }) : (head.parts[0] as Value);
  const embedding = g.op("Transpose", [joined], { perm: [1, 0] }, { outputNames: ["embedding"] });
  g.output(embedding, "embedding", "float32", [head.patches, head.dim]);
  return g.build();
}

export interface PatchHead {
  embed(maps: FeatureMap[]): Promise<PatchEmbedding>;
  release(): Promise<void>;
}

export async function openPatchHead(layers: readonly LayerShape[], session?: SessionOptions, pool: PoolWindows = 3): Promise<PatchHead> {
  const key = `patch-head:${poolKey(pool)}:${layers.map((l) => `${l.channels}x${l.height}x${l.width}`).join("+")}`;
  const model: ModelHandle = await acquireModelFromBytes(key, buildPatchHeadModel(layers, pool), session);
  const first = layers[0] as LayerShape;
  const dim = layers.reduce((sum, l) => sum + l.channels, 0);
  return {
    async embed(maps) {
      const feeds: Record<string, ort.Tensor> = {};
      maps.forEach((m, i) => {
        feeds[`in${i}`] = new ort.Tensor("float32", m.data, [1, m.channels, m.height, m.width]);
      });
      // The layer maps are the backbone's fresh outputs, read by nothing else: hand them over.
      const out = (await model.run(feeds, undefined, { transferFeeds: true })).embedding as ort.Tensor;
      return { data: out.data as Float32Array, patches: first.height * first.width, dim, gridHeight: first.height, gridWidth: first.width };
    },
    release: () => model.release(),
  };
}

export function layerShapes(maps: readonly FeatureMap[]): LayerShape[] {
  return maps.map((m) => ({ name: m.name, channels: m.channels, height: m.height, width: m.width }));
}
