import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/main";
import { captureCli } from "../fixtures/cli-io";

/** The compiled command beside the compiled test (build-test/src/cli/main.js). */
const MAIN = join(__dirname, "../../src/cli/main.js");

describe("command line", function () {
  let dir: string;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "cli-spec-"));
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("synth writes the data set and prints what it wrote", async function () {
    const out = join(dir, "data");
    const run = captureCli();
    const args = ["synth", "--out", out, "--count", "2", "--size", "32", "--kinds", "cast-surface", "--defects", "hole,crack", "--seed", "3"];
    const code = await runCli(args, run.io);
    assert.equal(run.stderr(), "");
    assert.equal(code, 0);
    assert.equal(
      run.stdout(),
      `Wrote 8 images and 4 masks (32x32 px, seed 3) to ${out}\n` + "  cast-surface  2 train/good, 2 test/good, 2 each of hole, crack with masks\n",
    );
    assert.deepEqual(await readdir(out), ["cast-surface"]);
    assert.deepEqual((await readdir(join(out, "cast-surface"))).sort(), ["ground_truth", "test", "train"]);
    assert.deepEqual((await readdir(join(out, "cast-surface", "test"))).sort(), ["crack", "good", "hole"]);
    assert.deepEqual((await readdir(join(out, "cast-surface", "ground_truth", "crack"))).sort(), ["000_mask.png", "001_mask.png"]);
  });

  it("answers bad arguments with one line on stderr and exit code 2", async function () {
    const out = join(dir, "data");
    const help = '(see "defect-detection synth --help")';
    const cases: Array<[string[], string]> = [
      [["synth"], `defect-detection synth: missing --out DIR, the folder to write the data set into ${help}`],
      [["synth", "--out"], `defect-detection synth: Option '-o, --out <value>' argument missing ${help}`],
      [["synth", "--out", out, "--count", "ten"], `defect-detection synth: --count must be a whole number from 1 to 1000, got "ten" ${help}`],
      [["synth", "--out", out, "--count", "1.5"], `defect-detection synth: --count must be a whole number from 1 to 1000, got "1.5" ${help}`],
      [["synth", "--out", out, "--size", "8"], `defect-detection synth: --size must be a whole number from 32 to 4096, got "8" ${help}`],
      [
        ["synth", "--out", out, "--kinds", "cast-surface,glass"],
        `defect-detection synth: unknown --kinds entry "glass"; expected one of: brushed-metal, woven-fabric, cast-surface, printed-pattern ${help}`,
      ],
      [["synth", "--out", out, "--colour", "red"], `defect-detection synth: Unknown option '--colour' ${help}`],
      [["synth", "extra", "--out", out], `defect-detection synth: Unexpected argument 'extra' ${help}`],
      [["predict", "--model", "m.onnx"], `defect-detection predict: --image IMG is required (see "defect-detection predict --help")`],
      [["eval", "--backbone", "b.onnx"], `defect-detection eval: --data DIR is required (see "defect-detection eval --help")`],
      [
        ["eval", "--data", out, "--backbone", "b.onnx", "--coreset", "2"],
        `defect-detection eval: --coreset must be a number above 0 and at most 1, got "2" (see "defect-detection eval --help")`,
      ],
      [
        ["eval", "--data", out, "--backbone", "b.onnx", "--size", "0"],
        `defect-detection eval: --size must be an integer from 1 to 8192, got "0" (see "defect-detection eval --help")`,
      ],
      [
        ["eval", "--data", out, "--backbone", "b.onnx", "--neighbors", "3"],
        `defect-detection eval: --neighbors is not available: the detector node uses PatchCore's default neighbours for the image score (see "defect-detection eval --help")`,
      ],
      [["train"], 'defect-detection: unknown command "train". Run "defect-detection --help" to list the commands.'],
    ];
    for (const [args, message] of cases) {
      const run = captureCli();
      const code = await runCli(args, run.io);
      assert.equal(run.stderr(), `${message}\n`, args.join(" "));
      assert.equal(code, 2, args.join(" "));
      assert.equal(run.stdout(), "", args.join(" "));
    }
    assert.deepEqual(await readdir(dir), [], "nothing is written for a bad command line");
  });

  it("exits 1 with the reason when the output folder cannot be made", async function () {
    const blocker = join(dir, "blocker");
    await writeFile(blocker, "a file where the folder should go");
    const run = captureCli();
    const code = await runCli(["synth", "--out", blocker, "--count", "1", "--size", "32"], run.io);
    assert.equal(code, 1);
    assert.equal(
      run.stderr(),
      `defect-detection synth: Cannot create folder "${join(blocker, "brushed-metal", "train", "good")}": "${blocker}" is a file, not a folder\n`,
    );
  });

  it("help lists every command; no command prints it as an error", async function () {
    const run = captureCli();
    assert.equal(await runCli(["--help"], run.io), 0);
    const text = run.stdout();
    assert.match(text, /^Usage: defect-detection <command> \[options\]/);
    assert.match(text, /\n {2}synth {4}write synthetic parts with defects and masks \(MVTec AD layout\)\n/);
    assert.match(text, /\n {2}eval {5}train on DIR\/train\/good/);
    assert.match(text, /\n {2}predict {2}run a classification, YOLO, segmentation or anomalib model on one image\n/);
    assert.doesNotMatch(text, /\(coming\)/);

    const none = captureCli();
    assert.equal(await runCli([], none.io), 2);
    assert.equal(none.stderr(), text);

    const topic = captureCli();
    assert.equal(await runCli(["help", "synth"], topic.io), 0);
    assert.match(topic.stdout(), /^Usage: defect-detection synth --out DIR \[options\]\n/);
    assert.match(topic.stdout(), /--kinds LIST/);
  });

  it("runs as a program: --help exits 0, a bad option exits 2 without a stack trace", function () {
    const help = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8" });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: defect-detection <command>/);
    assert.match(help.stdout, /\n {2}synth /);

    const bad = spawnSync(process.execPath, [MAIN, "synth", "--count", "x"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, "");
    assert.equal(bad.stderr.split("\n").length, 2, bad.stderr);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  });
});
