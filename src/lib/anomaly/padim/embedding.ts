/**
 * PaDiM's patch embedding: the backbone layers brought to the finest layer's grid by nearest
 * upsampling (as anomalib), concatenated on channels, then a fixed random subset of those
 * channels. The subset keeps the per-position covariance small (100 x 100 rather than
 * 1792 x 1792) at a small accuracy cost, which is the paper's own trade-off.
 */
import { DefectError } from "../../errors";
import type { FeatureMap, PatchEmbedding } from "../../features/types";
import { Rng } from "../../random";

/**
 * `count` distinct channel indices out of `total`, sorted, drawn from a seeded generator so the
 * same seed always picks the same channels (the model stores them anyway). Asking for at least
 * `total` channels keeps them all.
 */
export function chooseChannels(total: number, count: number, seed: number): Int32Array {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`total channels must be a positive integer, got ${total}`);
  if (!Number.isInteger(count) || count < 1) {
    throw new DefectError("invalidOption", `the PaDiM channel count must be a positive integer, got ${count}`, { option: "channels", value: count });
  }
  const pool = Int32Array.from({ length: total }, (_, i) => i);
  const keep = Math.min(count, total);
  const rng = new Rng(seed);
  // Partial Fisher-Yates: the first `keep` slots end up a uniform random subset.
  for (let i = 0; i < keep; i++) {
    const j = i + Math.floor(rng.next() * (total - i));
    const t = pool[i] as number;
    pool[i] = pool[j] as number;
    pool[j] = t;
  }
  return pool.slice(0, keep).sort();
}

/** Shape key of a set of layers, to check that every image gives the same layers. */
export function layersKey(maps: readonly FeatureMap[]): string {
  return maps.map((m) => `${m.name}:${m.channels}x${m.height}x${m.width}`).join("+");
}

export function totalChannels(maps: readonly FeatureMap[]): number {
  return maps.reduce((sum, m) => sum + m.channels, 0);
}

/** Where concatenated channel `c` lives: which layer, and which channel of it. */
function locateChannels(maps: readonly FeatureMap[], channels: Int32Array): { layer: Int32Array; channel: Int32Array } {
  const layer = new Int32Array(channels.length);
  const channel = new Int32Array(channels.length);
  const total = totalChannels(maps);
  channels.forEach((c, i) => {
    if (c < 0 || c >= total) {
      throw new DefectError("inputShapeMismatch", `PaDiM channel ${c} does not exist: the backbone layers have ${total} channels in all`, {
        expected: total,
        actual: c + 1,
      });
    }
    let rest = c;
    let l = 0;
    while (rest >= (maps[l] as FeatureMap).channels) {
      rest -= (maps[l] as FeatureMap).channels;
      l += 1;
    }
    layer[i] = l;
    channel[i] = rest;
  });
  return { layer, channel };
}

/**
 * Embedding of one image, row-major [positions, channels.length] over the finest layer's grid
 * (the layer with the most positions; anomalib's first layer, which is that one for a CNN).
 */
export function padimEmbedding(maps: readonly FeatureMap[], channels: Int32Array): PatchEmbedding {
  if (maps.length === 0) throw new DefectError("invalidOption", "PaDiM needs at least one backbone layer", { option: "layers", value: "" });
  const target = maps.reduce((best, m) => (m.height * m.width > best.height * best.width ? m : best));
  const { height, width } = target;
  const patches = height * width;
  const dim = channels.length;
  const { layer, channel } = locateChannels(maps, channels);
  // Nearest source row/column of every target row/column, per layer (torch's "nearest": floor(i * in / out)).
  const rows = maps.map((m) => Int32Array.from({ length: height }, (_, y) => Math.min(m.height - 1, Math.floor((y * m.height) / height))));
  const cols = maps.map((m) => Int32Array.from({ length: width }, (_, x) => Math.min(m.width - 1, Math.floor((x * m.width) / width))));
  const data = new Float32Array(patches * dim);
  for (let d = 0; d < dim; d++) {
    const l = layer[d] as number;
    const map = maps[l] as FeatureMap;
    const plane = map.data.subarray((channel[d] as number) * map.height * map.width, ((channel[d] as number) + 1) * map.height * map.width);
    const rowIndex = rows[l] as Int32Array;
    const colIndex = cols[l] as Int32Array;
    for (let y = 0; y < height; y++) {
      const source = (rowIndex[y] as number) * map.width;
      const out = y * width * dim + d;
      for (let x = 0; x < width; x++) data[out + x * dim] = plane[source + (colIndex[x] as number)] as number;
    }
  }
  return { data, patches, dim, gridHeight: height, gridWidth: width };
}
