/**
 * `defect-detection predict` end to end on the constant-output fixture models: boxes in the
 * original image's pixels, classes named from a names file, maps summarised, anomalib exports,
 * and the exit codes of unknown formats and bad command lines.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, type CliIo } from "../../src/cli/main";
import type { PredictReport } from "../../src/cli/predict";
import { buildV2Model } from "../fixtures/anomalib-models";
import { encodePng, makeImage } from "../fixtures/images";
import { buildClassifierModel } from "../fixtures/models";
import { SEMANTIC_INSIDE, SEMANTIC_SIZE, buildSemanticModel, buildUnknownFormatModel, buildYoloV8Model } from "../fixtures/supervised-node-models";

/** Float32 outputs against hand-written doubles. */
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

async function predictJson(args: string[]): Promise<PredictReport> {
  const run = await predict([...args, "--json"]);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
  assert.equal(run.stdout.split("\n").length, 2, "one JSON line");
  return JSON.parse(run.stdout) as PredictReport;
}

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= CLOSE, `${what}: ${actual} vs ${expected}`);
}

describe("predict command", function () {
  this.timeout(30_000);
  let dir = "";
  let yolo = "";
  let classifier = "";
  let semantic = "";
  let unknown = "";
  let anomalib = "";
  /** 128x64: letterboxed into the YOLO fixture's 64x64 at scale 0.5 with 16 px bands. */
  let wide = "";

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "cli-predict-"));
    const write = async (name: string, bytes: Uint8Array): Promise<string> => {
      const file = join(dir, name);
      await writeFile(file, bytes);
      return file;
    };
    yolo = await write("yolo.onnx", buildYoloV8Model());
    classifier = await write("classifier.onnx", buildClassifierModel(3));
    semantic = await write("semantic.onnx", buildSemanticModel());
    unknown = await write("unknown.onnx", buildUnknownFormatModel());
    anomalib = await write("anomalib.onnx", buildV2Model({ size: 8, scoreShape: "flat" }));
    wide = await write("wide.png", await encodePng(makeImage(128, 64, 3, (x, y, c) => (x * 2 + y + c * 40) % 256)));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints YOLO boxes in the original image's pixels as one JSON object", async function () {
    const report = await predictJson(["--model", yolo, "--image", wide]);
    assert.deepEqual(
      { ...report, score: 0, boxes: [], ms: {} },
      {
        model: { file: "yolo.onnx", task: "detect", classes: 2 },
        image: { file: "wide.png", width: 128, height: 64 },
        preprocess: "64x64 letterbox (pad 114), RGB NCHW, values 0..1",
        task: "detect",
        score: 0,
        classes: [],
        boxes: [],
        map: null,
        ms: {},
      },
    );
    near(report.score, 0.9, "score");
    const expected = [
      { x1: 24, y1: 8, x2: 56, y2: 24, score: 0.9, class: 0, name: "scratch" },
      { x1: 80, y1: 36, x2: 96, y2: 60, score: 0.8, class: 1, name: "dent" },
    ];
    assert.deepEqual(
      report.boxes.map((b) => [b.class, b.name]),
      expected.map((b) => [b.class, b.name]),
    );
    report.boxes.forEach((box, i) => {
      for (const key of ["x1", "y1", "x2", "y2", "score"] as const) near(box[key], expected[i]![key], `box ${i} ${key}`);
    });
    for (const key of ["preprocess", "model", "post"] as const) assert.ok(report.ms[key] >= 0, key);
  });

  it("prints a readable table, and applies --confidence", async function () {
    const run = await predict(["--model", yolo, "--image", wide, "--confidence", "0.85"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    const lines = run.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 7), [
      "model       yolo.onnx (detect, 2 classes)",
      "image       wide.png 128x64 -> 64x64 letterbox (pad 114), RGB NCHW, values 0..1",
      "task        detect",
      "score       0.900",
      "boxes       1",
      "  class    score  x1    y1   x2    y2",
      "  scratch  0.900  24.0  8.0  56.0  24.0",
    ]);
    assert.match(lines[7]!, /^ms {10}preprocess \d+\.\d \/ model \d+\.\d \/ post \d+\.\d$/);
  });

  it("names a classifier's top classes from a names file", async function () {
    const names = join(dir, "names.txt");
    await writeFile(names, "good\nchip\ncrack\n");
    const report = await predictJson(["--model", classifier, "--image", wide, "--names", names, "--top-k", "2", "--size", "32"]);
    assert.equal(report.task, "classify");
    assert.equal(report.classes.length, 2);
    for (const c of report.classes) assert.ok(["good", "chip", "crack"].includes(c.name), c.name);
    assert.ok(report.classes[0]!.score >= report.classes[1]!.score);
    near(report.score, report.classes[0]!.score, "score is the top class");
    assert.deepEqual([report.boxes, report.map], [[], null]);
    assert.match(report.preprocess, /^32x32 /);
  });

  it("summarises a semantic segmentation map by size and maximum", async function () {
    const report = await predictJson(["--model", semantic, "--image", wide]);
    assert.equal(report.task, "semantic");
    assert.deepEqual([report.map?.width, report.map?.height], [SEMANTIC_SIZE, SEMANTIC_SIZE]);
    near(report.map?.max ?? 0, SEMANTIC_INSIDE, "map max");
    assert.deepEqual(
      report.classes.map((c) => c.name),
      ["class 1"],
    );
  });

  it("runs an anomalib export with --task anomaly", async function () {
    const report = await predictJson(["--model", anomalib, "--image", wide, "--task", "anomaly"]);
    assert.deepEqual([report.task, report.classes, report.boxes, report.map?.width, report.map?.height], ["anomaly", [], [], 8, 8]);
    assert.ok(report.score >= 0 && report.score <= 1, String(report.score));
    near(report.map?.max ?? -1, report.score, "the fixture's score is its map's maximum");
  });

  it("exits 1 naming the output shapes of a model of no known format", async function () {
    const run = await predict(["--model", unknown, "--image", wide]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^defect-detection predict: model "unknown\.onnx" has no known output format: .*out0 \[1,7,3\]; out1 \[5\]/);
    assert.equal(run.stderr.split("\n").length, 2, "one line");
  });

  it("exits 1 for a missing model or image", async function () {
    const missingModel = await predict(["--model", join(dir, "none.onnx"), "--image", wide]);
    assert.equal(missingModel.code, 1);
    assert.equal(missingModel.stderr, `defect-detection predict: model file not found: ${join(dir, "none.onnx")}\n`);
    const missingImage = await predict(["--model", yolo, "--image", join(dir, "none.png")]);
    assert.equal(missingImage.code, 1);
    assert.equal(missingImage.stderr, `defect-detection predict: Image file not found: ${join(dir, "none.png")}\n`);
  });

  it("answers bad command lines with one line and exit code 2", async function () {
    const help = '(see "defect-detection predict --help")';
    const cases: Array<[string[], string]> = [
      [["--image", wide], "--model FILE is required"],
      [
        ["--model", yolo, "--image", wide, "--task", "pose"],
        '--task must be one of auto, classify, detect, segment, semantic, reconstruction, anomaly, got "pose"',
      ],
      [["--model", yolo, "--image", wide, "--confidence", "2"], '--confidence must be a number from 0 to 1, got "2"'],
      [["--model", yolo, "--image", wide, "--iou", "x"], '--iou must be a number from 0 to 1, got "x"'],
      [["--model", yolo, "--image", wide, "--top-k", "0"], '--top-k must be a whole number from 1 to 1000, got "0"'],
      [["--model", yolo, "--image", wide, "--size", "32"], "--size 32 does not fit the model, whose input is fixed at 64x64"],
      [["--model", anomalib, "--image", wide, "--task", "anomaly", "--names", "n.txt"], "--names applies to supervised models, not to --task anomaly"],
      [["--model", yolo, "--image", wide, "--colour", "red"], "Unknown option '--colour'"],
    ];
    for (const [args, message] of cases) {
      const run = await predict(args);
      assert.equal(run.stderr, `defect-detection predict: ${message} ${help}\n`, args.join(" "));
      assert.equal(run.code, 2, args.join(" "));
      assert.equal(run.stdout, "");
    }
  });

  it("prints its help", async function () {
    const run = await predict(["--help"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: defect-detection predict --model FILE --image IMG \[options\]\n/);
    assert.match(run.stdout, /--task NAME +auto, classify, detect, segment, semantic, reconstruction, anomaly/);
  });
});
