/**
 * `defect-detection predict --task reconstruction` on a tiny autoencoder that zeroes a known rectangle
 * of its input: on a uniform image the error there is the pixel value squared (0..1 input), so the
 * score, the mean and the map's maximum are known by hand; under task auto the model is refused.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, type CliIo } from "../../src/cli/main";
import type { PredictReport } from "../../src/cli/predict";
import { encodePng, makeImage } from "../fixtures/images";
import { maskingAutoencoder } from "../fixtures/reconstruction-models";

const SIZE = 8;
const RECT = { x0: 2, x1: 5, y0: 1, y1: 3 };
const AREA = (RECT.x1 - RECT.x0) * (RECT.y1 - RECT.y0);
const GRAY = 128;
/** The stretched uniform image is GRAY / 255 in every channel; zeroed, it errs by its square. */
const INSIDE = (GRAY / 255) ** 2;
const CLOSE = 1e-5;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function predict(args: string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } };
  const code = await runCli(["predict", ...args], io);
  return { code, stdout, stderr };
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= CLOSE, `${what}: ${actual} vs ${expected}`);
}

describe("predict command with a reconstruction model", function () {
  this.timeout(30_000);
  let dir = "";
  let model = "";
  let image = "";

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "cli-reconstruction-"));
    model = join(dir, "ae.onnx");
    image = join(dir, "part.png");
    await writeFile(model, maskingAutoencoder(SIZE, 3, RECT));
    await writeFile(image, await encodePng(makeImage(32, 16, 3, () => GRAY)));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports the error map's maximum as the score, with the map's size, as JSON", async function () {
    const run = await predict(["--model", model, "--image", image, "--task", "reconstruction", "--json"]);
    assert.deepEqual([run.code, run.stderr], [0, ""]);
    const report = JSON.parse(run.stdout) as PredictReport;
    assert.deepEqual(
      { ...report, score: 0, map: null, ms: {} },
      {
        model: { file: "ae.onnx", task: "reconstruction", classes: 0 },
        image: { file: "part.png", width: 32, height: 16 },
        preprocess: "8x8 stretch, RGB NCHW, values 0..1",
        task: "reconstruction",
        score: 0,
        classes: [],
        boxes: [],
        map: null,
        ms: {},
      },
    );
    near(report.score, INSIDE, "score");
    assert.deepEqual([report.map?.width, report.map?.height], [SIZE, SIZE]);
    near(report.map?.max ?? -1, INSIDE, "map max");
  });

  it("--score mean gives the mean error, in the table", async function () {
    const run = await predict(["--model", model, "--image", image, "--task", "reconstruction", "--score", "mean"]);
    assert.deepEqual([run.code, run.stderr], [0, ""]);
    const lines = run.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 5), [
      "model       ae.onnx (reconstruction, 0 classes)",
      "image       part.png 32x16 -> 8x8 stretch, RGB NCHW, values 0..1",
      "task        reconstruction",
      `score       ${((INSIDE * AREA) / (SIZE * SIZE)).toFixed(3)}`,
      `map         8x8, max ${INSIDE.toFixed(3)}`,
    ]);
  });

  it("exits 1 under task auto, naming both readings and the tasks that decide", async function () {
    const run = await predict(["--model", model, "--image", image]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^defect-detection predict: model "ae\.onnx" is ambiguous: output reconstruction \[1,3,8,8\] has the shape of its input "input" \[1,3,8,8\]/,
    );
    assert.match(run.stderr, /set the task to "reconstruction" or "semantic"\n$/);
  });

  it("refuses a score rule it does not know, and --score with --task anomaly", async function () {
    const help = '(see "defect-detection predict --help")';
    const bad = await predict(["--model", model, "--image", image, "--task", "reconstruction", "--score", "median"]);
    assert.deepEqual([bad.code, bad.stderr], [2, `defect-detection predict: --score must be one of max, mean, got "median" ${help}\n`]);
    const anomaly = await predict(["--model", model, "--image", image, "--task", "anomaly", "--score", "mean"]);
    assert.deepEqual([anomaly.code, anomaly.stderr], [2, `defect-detection predict: --score applies to supervised models, not to --task anomaly ${help}\n`]);
  });
});
