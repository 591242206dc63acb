/**
 * How the detector fits a PatchCore memory bank, from what a learning round holds: each learned
 * image's rows in the coreset space (128 projected values a patch instead of the features' 1536)
 * and a way to get an image's full features again. The greedy coreset picks the bank's rows in
 * that space on a worker thread; only then are the full features of the images that hold picked
 * rows fetched, one image at a time, and the picked rows copied into the bank. A round thus never
 * holds every training patch's full features, which at 256 px and ResNet-50 layer2+layer3 is
 * 6 MB an image (1.2 GB for 200 images), and the bank is the one buildMemoryBank would select
 * from the same features (same projection, start and greedy order).
 *
 * Sweeps that reuse features across settings fit through here too, with `features` reading
 * their cache instead of embedding again.
 */
import type { MemoryBank, PatchCoreOptions } from "../../anomaly/patchcore/patchcore";
import type { RowBlocks } from "../../anomaly/patchcore/row-blocks";
import { DefectError } from "../../errors";
import type { SessionOptions } from "../../onnx";
import type { LeaveOneOutInput } from "./leave-one-out";
import { finishBankOffThread, fitStopped, selectBankRowsOffThread } from "./off-thread";

export interface LearnedRows {
  /** Every learned image's rows in the coreset space, image after image, `patches` rows each. */
  space: RowBlocks;
  images: number;
  patches: number;
  /** Values of a full patch feature. */
  dim: number;
  /**
   * Full patch features of learned image `image`, [patches, dim]. The fit may hand a shot's
   * array (calibration) to a worker: return a copy of what you keep.
   */
  features(image: number): Promise<Float32Array>;
}

/** Leave-one-out scores of the shots (leave-one-out.ts), for a few-shot round's calibration. */
export interface ShotCalibration {
  /** The shot each learned image shows (a variant shows its shot); images below `shots` are the shots themselves. */
  owners: Int32Array;
  shots: number;
  grid: { width: number; height: number };
  map: { width: number; height: number };
}

export interface BankFit {
  bank: MemoryBank;
  /** The learned image each bank row came from (leave-one-image-out.ts). */
  rowImages: Int32Array;
  /** One score a shot; null when no calibration was asked for. */
  leaveOneOut: number[] | null;
  /** The shots those scores are of, with their patch distances, in the same order. */
  leftOut: Array<{ image: number; grid: Float32Array }>;
}

export interface BankFitOptions {
  /** The caller uses `space` again (a sweep): copy it to the worker instead of handing it over. */
  keepSpace?: boolean;
  calibration?: ShotCalibration | null;
}

/** Bank row positions grouped by the learned image they come from (counting sort, bank order kept). */
function byImage(rows: Int32Array, patches: number, images: number): { start: Int32Array; order: Int32Array } {
  const start = new Int32Array(images + 1);
  for (const row of rows) {
    const image = Math.floor(row / patches);
    start[image + 1] = (start[image + 1] as number) + 1;
  }
  for (let i = 0; i < images; i++) start[i + 1] = (start[i + 1] as number) + (start[i] as number);
  const next = start.slice(0, images);
  const order = new Int32Array(rows.length);
  rows.forEach((row, position) => {
    const image = Math.floor(row / patches);
    order[next[image] as number] = position;
    next[image] = (next[image] as number) + 1;
  });
  return { start, order };
}

export async function fitPatchCoreBank(
  learned: LearnedRows,
  options: PatchCoreOptions,
  session: SessionOptions,
  signal: AbortSignal,
  extra: BankFitOptions = {},
): Promise<BankFit> {
  const { images, patches, dim } = learned;
  if (images < 1 || learned.space.count !== images * patches) {
    throw new DefectError("invalidOption", "no training patches: learn from at least one good image", { option: "train", value: learned.space.count });
  }
  const rows = await selectBankRowsOffThread(learned.space, options, session, signal, extra.keepSpace === true);
  const calibration = extra.calibration ?? null;
  const { start, order } = byImage(rows, patches, images);
  const data = new Float32Array(rows.length * dim);
  const owners = new Int32Array(rows.length);
  const shots: Float32Array[] = [];
  for (let image = 0; image < images; image++) {
    const from = start[image] as number;
    const to = start[image + 1] as number;
    const isShot = calibration !== null && image < calibration.shots;
    if (from === to && !isShot) continue;
    if (signal.aborted) throw fitStopped();
    const features = await learned.features(image);
    for (let k = from; k < to; k++) {
      const position = order[k] as number;
      const patch = (rows[position] as number) - image * patches;
      data.set(features.subarray(patch * dim, patch * dim + dim), position * dim);
      if (calibration !== null) owners[position] = calibration.owners[image] as number;
    }
    if (isShot) shots.push(features);
  }
  const bank: MemoryBank = { data, size: rows.length, dim, projection: null };
  const leaveOneOut: LeaveOneOutInput | null = calibration === null ? null : { owners, shots, grid: calibration.grid, map: calibration.map };
  const finished = await finishBankOffThread(bank, options, session, leaveOneOut, signal);
  const rowImages = Int32Array.from(rows, (row) => Math.floor(row / patches));
  return {
    bank: finished.bank,
    rowImages,
    leaveOneOut: calibration === null ? null : finished.leftOut.map((s) => s.score),
    leftOut: finished.leftOut.map((s) => ({ image: s.shot, grid: s.grid })),
  };
}
