/**
 * A shift field: one displacement per grid cell, read between cell centres by bilinear
 * interpolation. It is what local alignment estimates and what the warp consumes.
 */
/** Shift of the test image relative to the reference at each cell centre: test(p) = reference(p - shift). */
export interface ShiftField {
  cellSize: number;
  cols: number;
  rows: number;
  dx: Float32Array;
  dy: Float32Array;
}

export function uniformField(width: number, height: number, cellSize: number, dx: number, dy: number): ShiftField {
  const cols = Math.ceil(width / cellSize);
  const rows = Math.ceil(height / cellSize);
  return { cellSize, cols, rows, dx: new Float32Array(cols * rows).fill(dx), dy: new Float32Array(cols * rows).fill(dy) };
}
