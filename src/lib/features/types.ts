/** One intermediate layer of a backbone for one image: NCHW with N = 1. */
export interface FeatureMap {
  name: string;
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Patch features of one image: `patches` rows of `dim` values, row-major over the grid. */
export interface PatchEmbedding {
  data: Float32Array;
  patches: number;
  dim: number;
  gridHeight: number;
  gridWidth: number;
}
