/** File-name patterns such as "*.png,*.jpg" for the folder source. */
import { DefectError } from "../errors";

export const DEFAULT_IMAGE_PATTERN = "*.png,*.jpg,*.jpeg,*.tif,*.tiff,*.webp,*.bmp";

export type FileNameMatcher = (fileName: string) => boolean;

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (const char of glob) {
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  // Case-insensitive because cameras and Windows shares often write IMG_0001.JPG.
  return new RegExp(`^${source}$`, "i");
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
      throw new DefectError(
        "invalidOption",
        `File pattern "${glob}" must match file names only, without a folder part`,
        { option: "pattern", value: pattern },
      );
    }
  }
  const regexps = globs.map(globToRegExp);
  return (fileName) => regexps.some((regexp) => regexp.test(fileName));
}
