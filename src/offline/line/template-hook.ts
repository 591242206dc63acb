/**
 * The hook for `line --method template [--reference-dir DIR]` (issue 14, part 4): how the line's
 * detector is configured and which images it learns, after which `line` runs it like the other
 * methods: learn, calibrate the threshold on training images, inspect.
 *
 * The detector learns the references (DIR/reference unless --reference-dir says otherwise; in
 * DeepPCB's layout the templates of the test images) and the training images (DIR/train/good),
 * which are good parts of the line too: the threshold calibrates on them, and they must be among
 * the references for that to mean anything, as a part is only compared with a reference of its
 * own design. A learned image inspected again is compared with another reference of its design
 * when there is one, else with itself (score 0); see ReferenceChoice in reference-set.ts.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { DefectError } from "../../lib/errors";

export interface TemplateHookInput {
  /** The dataset folder (MVTec layout, plus reference/ for aligned parts). */
  data: string;
  /** --reference-dir as given; undefined: DIR/reference, as `eval --method template`. */
  referenceDir: string | undefined;
}

export interface TemplateLineSetup {
  /** Detector node fields (editor names, strings). */
  detector: Record<string, string>;
  /** Images taught with msg.learn, in order. */
  learn: string[];
}

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"]);

function imagesIn(folder: string): string[] {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return [];
  return readdirSync(folder)
    .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(folder, name));
}

export function templateLineSetup(input: TemplateHookInput): TemplateLineSetup {
  // Absolute: the line's image source reads paths from its own user directory.
  const referenceDir = resolve(input.referenceDir ?? join(input.data, "reference"));
  if (input.referenceDir !== undefined && !(existsSync(referenceDir) && statSync(referenceDir).isDirectory())) {
    throw new DefectError("folderNotFound", `the reference folder ${referenceDir} does not exist`, { path: referenceDir });
  }
  // Without a reference folder (a synthetic line of one printed design), the good training parts are the references.
  const learn = [...imagesIn(referenceDir), ...imagesIn(resolve(input.data, "train", "good"))];
  if (learn.length === 0) {
    throw new DefectError("noTrainingImages", `no reference images in ${referenceDir} or ${join(input.data, "train", "good")}`, { path: referenceDir });
  }
  return { detector: { setting: "unsupervised", method: "template", trainCount: String(learn.length) }, learn };
}
