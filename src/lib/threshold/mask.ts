/** The binary defect mask of a score map: one byte a pixel, 1 at or above the pixel threshold. */

export function thresholdMap(data: ArrayLike<number>, threshold: number): Uint8Array {
  const mask = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) mask[i] = (data[i] as number) >= threshold ? 1 : 0;
  return mask;
}
