// The training-data split issue 15's choices are judged on (no test image is read): the first 200
// sorted train/good images are learned, train/good from 400 on (never learned) are the validation
// good parts, and the first 150 sorted images of each train_defect class, where the dataset has
// labelled defects in its training split (casting), the validation defective parts.
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const { readMvtecDataset } = await import(pathToFileURL(join(root, "dist", "offline", "eval", "mvtec-dataset.js")).href);

export function validationSets(data) {
  const dataset = readMvtecDataset(data);
  const defects = join(data, "train_defect");
  const labelled = existsSync(defects)
    ? readdirSync(defects, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .flatMap((d) =>
          readdirSync(join(defects, d.name))
            .sort()
            .slice(0, 150)
            .map((f) => join(defects, d.name, f)),
        )
    : [];
  return { learn: dataset.train.slice(0, 200), validation: dataset.train.slice(400), labelled, test: dataset.test };
}
