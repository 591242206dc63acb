/** Good images from a folder, made into samples the way the detector's folder options say. */
import { basename } from "node:path";
import type { DecodeLimits } from "../image";
import { preprocessImage } from "../image";
import type { PreprocessOptions } from "../image/types";
import { DefectError } from "../errors";
import { compileFilePattern, DEFAULT_MAX_DOWNLOAD_BYTES, listFolderFiles, readImageFile } from "../source";
import type { LabelledSample } from "./engine";

/** The image files of `folder` (not its subfolders), sorted by name; none is an error. */
export async function listTrainingImages(folder: string): Promise<string[]> {
  const files = await listFolderFiles(folder, compileFilePattern(""));
  if (files.length === 0) {
    throw new DefectError("noTrainingImages", `The training folder ${folder} holds no images (png, jpg, tif, webp, bmp)`, { path: folder });
  }
  return files;
}

/** One sample a file, read and preprocessed only when the learner asks for it (bounded memory). */
export async function* folderSamples(
  files: readonly string[],
  options: PreprocessOptions,
  limits: DecodeLimits,
  onSkip: (error: unknown, file: string) => void,
): AsyncGenerator<LabelledSample> {
  for (const file of files) {
    let tensor;
    try {
      // The image source's default Max size: a huge file is skipped from its size, never read.
      tensor = (await preprocessImage(await readImageFile(file, DEFAULT_MAX_DOWNLOAD_BYTES), options, limits)).tensor;
    } catch (error) {
      onSkip(error, file);
      continue;
    }
    yield { sample: { tensor, preprocessing: options, name: basename(file) }, label: file };
  }
}
