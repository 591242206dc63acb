/**
 * Reading a folder in MVTec AD layout: train/good/, test/<type>/ (type "good" = defect-free),
 * ground_truth/<type>/<stem>_mask.png where masks exist.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import sharp from "sharp";
import { DefectError } from "../../lib/errors";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"]);

export interface TestSample {
  path: string;
  /** Folder name under test/, e.g. "good" or "crack". */
  type: string;
  defective: boolean;
  maskPath: string | null;
}

export interface MvtecDataset {
  root: string;
  train: string[];
  test: TestSample[];
  /** Whether any defective test image has a mask (pixel metrics are possible). */
  hasMasks: boolean;
}

function imagesIn(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(folder, name));
}

export function readMvtecDataset(root: string, trainLimit?: number): MvtecDataset {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new DefectError("folderNotFound", `dataset folder not found: ${root}`, { path: root });
  }
  const train = imagesIn(join(root, "train", "good"));
  if (train.length === 0) throw new DefectError("folderNotFound", `no training images in ${join(root, "train", "good")}`, { path: root });
  const testRoot = join(root, "test");
  const types = existsSync(testRoot)
    ? readdirSync(testRoot)
        .filter((t) => statSync(join(testRoot, t)).isDirectory())
        .sort()
    : [];
  const test: TestSample[] = [];
  for (const type of types) {
    for (const path of imagesIn(join(testRoot, type))) {
      const stem = basename(path, extname(path));
      const mask = join(root, "ground_truth", type, `${stem}_mask.png`);
      test.push({ path, type, defective: type !== "good", maskPath: type !== "good" && existsSync(mask) ? mask : null });
    }
  }
  if (test.length === 0) throw new DefectError("folderNotFound", `no test images in ${testRoot}`, { path: root });
  return {
    root,
    train: trainLimit === undefined ? train : train.slice(0, trainLimit),
    test,
    hasMasks: test.some((s) => s.maskPath !== null),
  };
}

/** A mask resized (nearest) to the evaluation size, 1 = defect. All zeros for good images. */
export async function loadMask(sample: TestSample, width: number, height: number): Promise<Uint8Array> {
  if (sample.maskPath === null) return new Uint8Array(width * height);
  const { data } = await sharp(sample.maskPath)
    .toColourspace("b-w")
    .resize(width, height, { fit: "fill", kernel: "nearest" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = (data[i] as number) >= 128 ? 1 : 0;
  return mask;
}
