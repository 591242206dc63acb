/**
 * `eval`'s detector flags as the detector node's option fields, read by the node's own parser
 * (parseDetectorOptions): one set of defaults and ranges, so `eval` with a flag left out runs
 * what an unedited detector node runs. A value the parser refuses is a usage error naming the flag.
 */
import { DefectError } from "../lib/errors";
import { parseDetectorOptions, type DetectorOptions } from "../lib/detector/options";
import { UsageError } from "./args";

/** The flags that become detector fields (the values util.parseArgs gives). */
export interface DetectorFlags {
  backbone?: string;
  layers?: string;
  size?: string;
  coreset?: string;
  "max-bank"?: string;
  "scoring-dim"?: string;
  "image-score"?: string;
  "appearance-weight"?: string;
  lookalikes?: string;
  exposure?: string;
  neighbourhood?: string;
  "place-weights"?: string;
  threads?: string;
  augment?: string;
  rotations?: string;
  standardize?: boolean;
  "no-standardize"?: boolean;
}

/** anomalib's PaDiM layers (the stride-4 grid of layer1 plus two coarser layers), as `line` reads --layers too. */
export const PADIM_DEFAULT_LAYERS = "layer1,layer2,layer3";

const FLAG_OF: Readonly<Record<string, string>> = {
  backbone: "--backbone",
  layers: "--layers",
  folderSize: "--size",
  coreset: "--coreset",
  maxBank: "--max-bank",
  scoringDim: "--scoring-dim",
  imageScore: "--image-score",
  appearanceWeight: "--appearance-weight",
  lookalikes: "--lookalikes",
  exposure: "--exposure",
  neighbourhood: "--neighbourhood",
  placeWeights: "--place-weights",
  threads: "--threads",
  augment: "--augment",
  rotations: "--rotations",
  trainCount: "--shots",
};

/** Only the flags given become fields: the rest keep the node's defaults. */
export function detectorFields(values: DetectorFlags, method: "patchcore" | "padim", shots: number | undefined): Record<string, string> {
  const fields: Record<string, string> = { setting: shots === undefined ? "unsupervised" : "fewshot", method };
  const given: Array<[string, string | undefined]> = [
    ["backbone", values.backbone],
    ["layers", values.layers ?? (method === "padim" ? PADIM_DEFAULT_LAYERS : undefined)],
    ["folderSize", values.size],
    ["coreset", values.coreset],
    ["maxBank", values["max-bank"]],
    ["scoringDim", values["scoring-dim"]],
    ["imageScore", values["image-score"]],
    ["appearanceWeight", values["appearance-weight"]],
    ["lookalikes", values.lookalikes],
    ["exposure", values.exposure],
    ["neighbourhood", values.neighbourhood],
    ["placeWeights", values["place-weights"]],
    ["threads", values.threads],
    ["augment", values.augment],
    ["rotations", values.rotations],
    ["trainCount", shots === undefined ? undefined : String(shots)],
    ["standardize", values.standardize === true ? "true" : values["no-standardize"] === true ? "false" : undefined],
  ];
  for (const [field, value] of given) if (value !== undefined) fields[field] = value;
  return fields;
}

export function parseEvalDetector(values: DetectorFlags, method: "patchcore" | "padim", shots: number | undefined): DetectorOptions {
  try {
    return parseDetectorOptions(detectorFields(values, method, shots));
  } catch (error) {
    if (!(error instanceof DefectError) || error.code !== "invalidOption") throw error;
    const { option, expected, value } = error.details;
    const flag = typeof option === "string" ? FLAG_OF[option] : undefined;
    if (flag === undefined || expected === undefined) throw error;
    throw new UsageError(`${flag} must be ${String(expected)}, got "${String(value)}"`);
  }
}

/** The help of the PatchCore scoring flags, the same for `eval` and `line`. */
export const SCORING_USAGE = `  --appearance-weight W  patchcore: weight of the whole part's appearance in the image
                       score, 0 to 0.9 (default 0.25, 0 with --backbone embedded;
                       0 = patches alone)
  --lookalikes K       patchcore learning from good parts: each score calibrated by how
                       the K learned images most like the part score among themselves,
                       0 to 50 (default 7, 0 with --backbone embedded; 0 = off)
  --exposure MODE      patchcore, padim: even (each image scaled to one mean brightness
                       before the backbone), as-captured, or auto (default: even for
                       patchcore with an ONNX backbone and no --shots)
  --neighbourhood N    patchcore: each layer's features averaged over an N x N window
                       before the search: 1, 3, 1,3 (the first layer 1, the others 3)
                       or auto (default: 1,3 with an ONNX backbone and no --shots,
                       else 3)
  --place-weights M    patchcore: on (distances count less where the learned good parts
                       vary most), off, or auto (default: on with an image score read
                       from the map, the default with an ONNX backbone and no --shots)
`;

/** The options `eval` and `line` share, by the same names: the dataset, the method and the detector's fields. */
export const DETECTOR_CLI_OPTIONS = {
  data: { type: "string" },
  method: { type: "string" },
  backbone: { type: "string" },
  model: { type: "string" },
  layers: { type: "string" },
  size: { type: "string" },
  coreset: { type: "string" },
  "max-bank": { type: "string" },
  neighbors: { type: "string" },
  "train-limit": { type: "string" },
  "scoring-dim": { type: "string" },
  "image-score": { type: "string" },
  "appearance-weight": { type: "string" },
  lookalikes: { type: "string" },
  exposure: { type: "string" },
  neighbourhood: { type: "string" },
  "place-weights": { type: "string" },
  "reference-dir": { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;
