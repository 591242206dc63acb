/** File-name patterns such as "*.png,*.jpg" for the folder source. */
import { DefectError } from "../errors";

export const DEFAULT_IMAGE_PATTERN = "*.png,*.jpg,*.jpeg,*.tif,*.tiff,*.webp,*.bmp";

export type FileNameMatcher = (fileName: string) => boolean;

/**
 * Whether `name` matches `glob`, both lower-cased. A `*` is retried only from the last one seen
 * (the classic greedy wildcard match): at most name x glob steps, where a regular expression of
 * `.*` runs backtracks exponentially (`*_*_*_*_*_*.png` took 130 ms on one 60-character name, on
 * Node-RED's event loop).
 */
function globMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    const c = glob[g];
    if (c === "*") {
      star = g++;
      resume = n;
    } else if (c !== undefined && (c === "?" || c === name[n])) {
      g++;
      n++;
    } else if (star >= 0) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (glob[g] === "*") g++;
  return g === glob.length;
}

/**
 * Compiles a comma-separated list of globs (`*` any run of characters, `?` one character)
 * matched against the file name only. An empty pattern means the default image pattern.
 */
export function compileFilePattern(pattern: string): FileNameMatcher {
  const globs = (pattern.trim() === "" ? DEFAULT_IMAGE_PATTERN : pattern)
    .split(",")
    .map((glob) => glob.trim())
    .filter((glob) => glob !== "");
  for (const glob of globs) {
    if (glob.includes("/") || glob.includes("\\")) {
      throw new DefectError("invalidOption", `File pattern "${glob}" must match file names only, without a folder part`, { option: "pattern", value: pattern });
    }
  }
  // Case-insensitive because cameras and Windows shares often write IMG_0001.JPG.
  const lower = globs.map((glob) => glob.toLowerCase());
  return (fileName) => {
    const name = fileName.toLowerCase();
    return lower.some((glob) => globMatches(glob, name));
  };
}
