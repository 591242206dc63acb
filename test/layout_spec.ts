/**
 * The folders say what runs where: src/lib and src/nodes are what a deployed flow runs; the
 * offline tools (evaluation, the rehearsal line, the synthetic generator, benchmarks) live in
 * src/offline beside the command line in src/cli, and nothing the nodes run imports them.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "src"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package root above ${__dirname}`);
    dir = up;
  }
  return dir;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** Every relative module a file names: static, type-only, dynamic and require. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import|require)\s*\(?\s*["'](\.{1,2}\/[^"']*)["']/g)) {
    found.push(resolve(dirname(file), match[1] as string));
  }
  return found;
}

describe("layout", function () {
  const root = packageRoot();
  const src = join(root, "src");

  for (const core of ["lib", "nodes"]) {
    it(`src/${core} imports nothing from src/offline or src/cli`, function () {
      const offenders = sources(join(src, core)).flatMap((file) =>
        importsOf(file)
          .filter((target) => [join(src, "offline"), join(src, "cli")].some((folder) => target === folder || target.startsWith(folder + sep)))
          .map((target) => `${relative(root, file)} -> ${relative(root, target)}`),
      );
      assert.deepEqual(offenders, []);
    });
  }

  it("keeps the offline tools in src/offline, not in src/lib", function () {
    for (const tool of ["eval", "line", "synth"]) {
      assert.equal(existsSync(join(src, "lib", tool)), false, `src/lib/${tool}`);
      assert.ok(existsSync(join(src, "offline", tool)), `src/offline/${tool}`);
    }
  });
});
