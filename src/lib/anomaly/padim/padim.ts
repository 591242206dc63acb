/**
 * PaDiM (Defard et al. 2021) as anomalib implements it: one multivariate Gaussian per position
 * of the finest feature grid, fitted on good images; a position's score is the Mahalanobis
 * distance of its embedding to that Gaussian; the map is upsampled bilinearly to the input
 * size and blurred, and the image score is the map's maximum.
 */
import type { ScoreMap } from "../../image/types";
import { gaussianBlur, mapMax, upsampleBilinear } from "../map-ops";
import type { GaussianGrid } from "./covariance";

export interface PadimOptions {
  /** Size of the random channel subset taken from the concatenated layers (all of them if fewer). */
  channels: number;
  /** Seed of the channel subset. */
  seed: number;
  /** Added to every covariance diagonal, so that the inverse exists and stays tame. */
  regularisation: number;
  blurSigma: number;
}

export const DEFAULT_PADIM_OPTIONS: Readonly<PadimOptions> = Object.freeze({
  // anomalib's n_features for ResNet-18-sized backbones; its WRN50 default is 550.
  channels: 100,
  seed: 0,
  regularisation: 0.01,
  blurSigma: 4,
});

/** Everything a fitted PaDiM needs besides the backbone: what to save and load. */
export interface PadimStatistics {
  /** Indices into the concatenated layer channels, sorted. */
  channels: Int32Array;
  /** Layer names and shapes the statistics were fitted on (`name:CxHxW+...`). */
  layers: string;
  gridWidth: number;
  gridHeight: number;
  gaussians: GaussianGrid;
}

/** Number of Gaussians (grid positions). */
export function gaussianCount(statistics: PadimStatistics): number {
  return statistics.gaussians.positions;
}

/** Bytes of the fitted statistics (means and inverse covariances, float32). */
export function statisticsBytes(statistics: PadimStatistics): number {
  return statistics.gaussians.mean.byteLength + statistics.gaussians.inverse.byteLength + statistics.channels.byteLength;
}

/** Full-resolution map and image score from the grid of distances. */
export function padimMap(
  distances: Float32Array,
  statistics: PadimStatistics,
  width: number,
  height: number,
  blurSigma: number,
): { map: ScoreMap; score: number } {
  const grid: ScoreMap = { data: distances, width: statistics.gridWidth, height: statistics.gridHeight };
  const map = gaussianBlur(upsampleBilinear(grid, width, height), blurSigma);
  return { map, score: mapMax(map) };
}
