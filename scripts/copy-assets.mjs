// Node-RED finds a node's .html, locales/ and icons/ only beside its compiled .js,
// so the build copies them from src/nodes and icons/ into dist/nodes/.
import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const srcNodes = join(root, "src", "nodes");
const outNodes = join(root, "dist", "nodes");
mkdirSync(outNodes, { recursive: true });

for (const name of readdirSync(srcNodes)) {
  if (name.endsWith(".html")) cpSync(join(srcNodes, name), join(outNodes, name));
}
if (existsSync(join(srcNodes, "locales"))) {
  cpSync(join(srcNodes, "locales"), join(outNodes, "locales"), { recursive: true });
}
cpSync(join(root, "icons"), join(outNodes, "icons"), { recursive: true });
