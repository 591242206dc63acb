/**
 * The label of a calibration sample: given on the message, or read from an MVTec-style path
 * (<category>/train/good/000.png, <category>/test/good/000.png, <category>/test/<defect>/000.png).
 */
import { DefectError } from "../errors";
import { SAMPLE_LABELS, type SampleLabel } from "./types";

const GOOD_FOLDER = "good";
const TEST_FOLDER = "test";

/**
 * "good" for a file in a folder named good, "defect" for a file in any other folder directly under
 * a test folder, otherwise undefined (the path says nothing). Both separators are accepted, so
 * Windows paths work on any platform.
 */
export function labelFromPath(path: string): SampleLabel | undefined {
  const parts = path.split(/[\\/]+/).filter((part) => part !== "");
  const parent = parts[parts.length - 2];
  const grandparent = parts[parts.length - 3];
  if (parent === undefined) return undefined;
  if (parent === GOOD_FOLDER) return "good";
  return grandparent === TEST_FOLDER ? "defect" : undefined;
}

/**
 * msg.label when set ("good" or "defect"), else what msg.filename says, else good: calibration
 * samples without a label are taken for good parts, as the good-only modes expect.
 */
export function sampleLabel(label: unknown, filename: unknown, property = "label"): SampleLabel {
  if (label !== undefined && label !== null && label !== "") {
    const known = SAMPLE_LABELS.find((l) => l === label);
    if (known === undefined) {
      const shown = typeof label === "string" ? label : (JSON.stringify(label) ?? String(label));
      throw new DefectError("invalidOption", `msg.${property} must be "good" or "defect", got ${shown}`, { option: `msg.${property}`, value: shown });
    }
    return known;
  }
  return (typeof filename === "string" ? labelFromPath(filename) : undefined) ?? "good";
}
