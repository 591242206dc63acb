/**
 * The labelled side of a dataset for defect-aware evaluation:
 *   DIR/train_defect/<type>/<stem>.<ext>          labelled defect images (image label = "defect")
 *   DIR/ground_truth_train/<type>/<stem>_mask.png  their masks, where present, else
 *   DIR/annotations/train/<stem>.json              their boxes (DeepPCB layout), where present.
 * The first N images sorted by "<type>/<name>" are taken, so a run is reproducible, skipping any
 * whose file stem is in `excludeStems`: in paired datasets (DeepPCB) train_defect/<id> is the same
 * board as train/good/<id>, and a labelled defect whose own good image is in the bank scores low
 * for its layout being known, not for its defect, which would bias calibration.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import sharp from "sharp";
import { DefectError } from "../../lib/errors";
import { DEFAULT_MAX_PIXELS, probeImage } from "../../lib/image";
import { parseAnnotations } from "../template/annotations";
import { boxMask } from "../template/regions-eval";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"]);
/** Mask pixels at or above this grey level are defect (masks are saved as 0 / 255). */
const MASK_LEVEL = 128;

export interface LabelledDefect {
  path: string;
  type: string;
  /** Where the defect region comes from; null = image label only. */
  region: { kind: "mask"; path: string } | { kind: "boxes"; path: string } | null;
}

function imagesIn(folder: string): string[] {
  return readdirSync(folder)
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort();
}

export function listLabelledDefects(root: string, count: number, excludeStems: ReadonlySet<string> = new Set()): LabelledDefect[] {
  const folder = join(root, "train_defect");
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new DefectError("folderNotFound", `no labelled defects: ${folder} not found (defect-aware mode takes them from DIR/train_defect/<type>/)`, {
      path: folder,
    });
  }
  const all: LabelledDefect[] = [];
  for (const type of readdirSync(folder)
    .filter((t) => statSync(join(folder, t)).isDirectory())
    .sort()) {
    for (const name of imagesIn(join(folder, type))) {
      const stem = basename(name, extname(name));
      if (excludeStems.has(stem)) continue;
      const mask = join(root, "ground_truth_train", type, `${stem}_mask.png`);
      const boxes = join(root, "annotations", "train", `${stem}.json`);
      const region = existsSync(mask) ? { kind: "mask" as const, path: mask } : existsSync(boxes) ? { kind: "boxes" as const, path: boxes } : null;
      all.push({ path: join(folder, type, name), type, region });
    }
  }
  if (all.length < count) {
    throw new DefectError(
      "noTrainingImages",
      `${count} labelled defects asked for, ${folder} holds ${all.length}${excludeStems.size > 0 ? " not paired with a good image in use" : ""}`,
      { path: folder },
    );
  }
  return all.slice(0, count);
}

/** The defect region at width x height (1 = defect), or null for an image-label-only sample. */
export async function loadDefectRegion(sample: LabelledDefect, width: number, height: number): Promise<Uint8Array | null> {
  if (sample.region === null) return null;
  if (sample.region.kind === "mask") {
    const { data } = await sharp(sample.region.path)
      .toColourspace("b-w")
      .resize(width, height, { fit: "fill", kernel: "nearest" })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return Uint8Array.from(data, (v) => (v >= MASK_LEVEL ? 1 : 0));
  }
  // Boxes are in the image's own pixels: scale them to the evaluation size as the stretch resize does.
  const info = await probeImage(await readFile(sample.path), { maxPixels: DEFAULT_MAX_PIXELS });
  const sx = width / info.width;
  const sy = height / info.height;
  const boxes = parseAnnotations(await readFile(sample.region.path, "utf8"), sample.region.path).map((d) => ({
    x: d.box.x * sx,
    y: d.box.y * sy,
    width: d.box.width * sx,
    height: d.box.height * sy,
  }));
  return boxMask(boxes, width, height);
}
