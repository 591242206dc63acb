/**
 * Seeded random conv filters, made zero-mean so they ignore slow brightness changes and respond
 * to texture and edges. The embedded backbone's version 1 was built from them; test fixtures
 * still build small deterministic backbones with them.
 */
import type { Rng } from "../../lib/random";

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
