/**
 * Where this package is installed: Node-RED loads the nodes from there (the `node-red` section
 * of package.json). Found by walking up, because the compiled code runs from dist/ and, in the
 * tests, from build-test/src/.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LineFailure } from "./failure";

export const PACKAGE_NAME = "node-red-contrib-defect-detection";

function nameAt(dir: string): string | undefined {
  const file = join(dir, "package.json");
  if (!existsSync(file)) return undefined;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    return typeof parsed === "object" && parsed !== null && "name" in parsed && typeof parsed.name === "string" ? parsed.name : undefined;
  } catch {
    return undefined;
  }
}

export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (nameAt(dir) === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new LineFailure(`cannot find the ${PACKAGE_NAME} package above ${from}`);
  }
}
