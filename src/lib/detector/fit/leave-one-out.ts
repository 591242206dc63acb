/**
 * A good-only calibration of a few-shot bank from its own shots: each shot is scored against the
 * bank without the rows it brought (its own patches and its variants'), as a new good part of the
 * line would be. With a handful of images there is nothing else to calibrate on; scoring the
 * shots against the whole bank would give ~0, as each finds itself.
 *
 * The bank's rows are searched one shot's rows at a time, and a shot is scored against the union
 * of the other shots' searches (union-search.ts): the same nearest rows as a search over the bank
 * without the shot, without copying the bank or building its search once per shot (16 shots
 * would build 16 near-copies of a 80 MB search, more than the fit itself holds).
 */
import { openNearestSearch, type NearestSearch } from "../../anomaly/patchcore/nearest";
import { PatchCoreScorer, type MemoryBank, type PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import { unionSearch, type SearchPart } from "../../anomaly/patchcore/union-search";
import type { SessionOptions } from "../../onnx";

export interface LeaveOneOutInput {
  /** The shot each bank row came from. */
  owners: Int32Array;
  /** Each shot's own patch features, [patches, dim]. */
  shots: Float32Array[];
  /** The patch grid of one image. */
  grid: { width: number; height: number };
  /** The model's input size: the map the "map-max" image score is read from. */
  map: { width: number; height: number };
}

/** One exact search over each shot's bank rows (none for a shot that kept no row). */
async function searchesByShot(bank: MemoryBank, owners: Int32Array, shots: number, session: SessionOptions): Promise<Array<SearchPart | null>> {
  const { dim } = bank;
  const parts: Array<SearchPart | null> = [];
  try {
    for (let shot = 0; shot < shots; shot++) {
      const rows: number[] = [];
      for (let r = 0; r < bank.size; r++) if (owners[r] === shot) rows.push(r);
      if (rows.length === 0) {
        parts.push(null);
        continue;
      }
      const data = new Float32Array(rows.length * dim);
      rows.forEach((r, i) => data.set(bank.data.subarray(r * dim, r * dim + dim), i * dim));
      const search: NearestSearch = await openNearestSearch(data, rows.length, dim, session);
      parts.push({ search, rows: Int32Array.from(rows) });
    }
    return parts;
  } catch (error) {
    await Promise.all(parts.map((p) => p?.search.release()));
    throw error;
  }
}

/** A shot scored without its rows: its image score and patch distances (kept-calibration.ts keeps both). */
export interface LeftOutShot {
  shot: number;
  score: number;
  grid: Float32Array;
}

/** One per shot that has others to be scored against, in shot order; none with fewer than two shots. */
export async function leaveOneOutScores(bank: MemoryBank, input: LeaveOneOutInput, options: PatchCoreOptions, session: SessionOptions): Promise<LeftOutShot[]> {
  const { owners, shots, grid, map } = input;
  if (shots.length < 2) return [];
  const parts = await searchesByShot(bank, owners, shots.length, session);
  try {
    const scores: LeftOutShot[] = [];
    for (const [shot, features] of shots.entries()) {
      const others = parts.filter((p, owner): p is SearchPart => p !== null && owner !== shot);
      if (others.length === 0) continue;
      // Exact search: a search subspace fitted per left-out bank would cost more than the scoring.
      const scorer = PatchCoreScorer.over({ ...bank, projection: null }, unionSearch(others, bank.dim), options);
      const embedding = { data: features, patches: grid.width * grid.height, dim: bank.dim, gridWidth: grid.width, gridHeight: grid.height };
      const scored = await scorer.scoreImage(embedding, map.width, map.height);
      // A copy: the grid is handed to the main thread, and must not take a shared buffer along.
      scores.push({ shot, score: scored.score, grid: scored.grid.data.slice() });
    }
    return scores;
  } finally {
    await Promise.all(parts.map((p) => p?.search.release()));
  }
}
