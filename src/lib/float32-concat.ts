/** Blocks of rows (banks, queued parts, labelled patches) joined into one array, in order. */
export function concatFloat32(chunks: readonly Float32Array[]): Float32Array {
  const all = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return all;
}
