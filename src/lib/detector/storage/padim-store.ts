/**
 * PaDiM statistics in the package's model file format: the chosen channels (int32), the
 * per-position means and inverse covariances (float32), with the caller's metadata.
 */
import type { PadimStatistics } from "../../anomaly/padim/padim";
import { requireSection, writeModelFile, type ModelFile, unusableModelFile } from "../../persist";

/** Tells a statistics file from other model files of the same format. */
export const PADIM_FILE_KIND = "padim-statistics";

interface StatisticsShape {
  layers: string;
  gridWidth: number;
  gridHeight: number;
  positions: number;
  dim: number;
}

export async function savePadimStatistics(path: string, statistics: PadimStatistics, metadata: Record<string, unknown>): Promise<void> {
  const { layers, gridWidth, gridHeight, gaussians } = statistics;
  const shape: StatisticsShape = { layers, gridWidth, gridHeight, positions: gaussians.positions, dim: gaussians.dim };
  await writeModelFile(path, {
    metadata: { ...metadata, kind: PADIM_FILE_KIND, padim: shape },
    sections: { channels: statistics.channels, mean: gaussians.mean, inverse: gaussians.inverse },
  });
}

function readShape(path: string, value: unknown): StatisticsShape {
  const r = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const positive = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
  const { layers, gridWidth, gridHeight, positions, dim } = r;
  if (
    typeof layers !== "string" ||
    !positive(gridWidth) ||
    !positive(gridHeight) ||
    !positive(positions) ||
    !positive(dim) ||
    positions !== gridWidth * gridHeight
  ) {
    throw unusableModelFile(path, `bad PaDiM statistics shape ${JSON.stringify(value)}`);
  }
  return { layers, gridWidth, gridHeight, positions, dim };
}

/** The statistics in a model file already read. */
export function padimStatisticsFrom(file: ModelFile, path: string): PadimStatistics {
  const kind = file.metadata["kind"];
  if (kind !== PADIM_FILE_KIND) throw unusableModelFile(path, `it holds "${String(kind)}", not PaDiM statistics`);
  const shape = readShape(path, file.metadata["padim"]);
  return {
    channels: requireSection(file, path, "channels", "int32", shape.dim),
    layers: shape.layers,
    gridWidth: shape.gridWidth,
    gridHeight: shape.gridHeight,
    gaussians: {
      positions: shape.positions,
      dim: shape.dim,
      mean: requireSection(file, path, "mean", "float32", shape.positions * shape.dim),
      inverse: requireSection(file, path, "inverse", "float32", shape.positions * shape.dim * shape.dim),
    },
  };
}
