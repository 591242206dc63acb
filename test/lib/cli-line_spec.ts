import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/main";
import { captureCli } from "../fixtures/cli-io";
import { encodePng } from "../fixtures/images";
import { generateDefect, type DefectKind, type TextureKind } from "../../src/offline/synth";

/**
 * Labelled defects beside a synthetic data set, in the layout `line --defect-shots` reads:
 * train_defect/<type>/<stem>.png with a mask in ground_truth_train/<type>/<stem>_mask.png, except
 * the last, which has boxes in annotations/train/<stem>.json (DeepPCB's layout: x2, y2 exclusive).
 * Their seeds are not the synthetic set's test seeds: these are other parts.
 */
async function writeLabelledDefects(data: string, kind: TextureKind, size: number): Promise<void> {
  const samples: Array<{ type: DefectKind; stem: string; seed: number }> = [
    { type: "hole", stem: "100", seed: 9001 },
    { type: "hole", stem: "101", seed: 9002 },
    { type: "spot", stem: "102", seed: 9003 },
  ];
  for (const [i, s] of samples.entries()) {
    const { image, mask } = generateDefect(kind, s.type, s.seed, size);
    await mkdir(join(data, "train_defect", s.type), { recursive: true });
    await writeFile(join(data, "train_defect", s.type, `${s.stem}.png`), await encodePng(image));
    if (i < samples.length - 1) {
      await mkdir(join(data, "ground_truth_train", s.type), { recursive: true });
      await writeFile(join(data, "ground_truth_train", s.type, `${s.stem}_mask.png`), await encodePng(mask));
      continue;
    }
    let [x1, y1, x2, y2] = [size, size, 0, 0];
    mask.data.forEach((v, p) => {
      if (v === 0) return;
      const [x, y] = [p % size, Math.floor(p / size)];
      [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
    });
    await mkdir(join(data, "annotations", "train"), { recursive: true });
    await writeFile(join(data, "annotations", "train", `${s.stem}.json`), JSON.stringify({ defects: [{ box: [x1, y1, x2, y2], type: s.type }] }));
  }
}

/** The compiled command beside the compiled test (build-test/src/cli/main.js). */
const MAIN = join(__dirname, "../../src/cli/main.js");
const EMBEDDED = ["--backbone", "embedded", "--layers", "stage2,stage3"];
/** Small parts, so that two runs of the whole line take seconds. */
const SIZE = "96";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The command as a program, with its own temporary folder: Node-RED's user directory goes there
 * and must be gone afterwards. Async, so a hung run is killed by the timeout, not by mocha.
 */
function runLine(args: string[], tmp: string, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, "line", ...args],
      { encoding: "utf8", timeout: timeoutMs, env: { ...process.env, TMPDIR: tmp } },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr });
      },
    );
  });
}

function inUnit(report: Record<string, unknown>, name: string): number {
  const value = report[name];
  assert.equal(typeof value, "number", `${name} is a number: ${JSON.stringify(value)}`);
  assert.ok((value as number) >= 0 && (value as number) <= 1, `${name} in [0, 1]: ${String(value)}`);
  return value as number;
}

function positive(report: Record<string, unknown>, name: string): number {
  const value = report[name];
  assert.equal(typeof value, "number", `${name} is a number: ${JSON.stringify(value)}`);
  assert.ok((value as number) > 0 && Number.isFinite(value), `${name} > 0: ${String(value)}`);
  return value as number;
}

describe("defect-detection line", function () {
  let dir: string;
  let data: string;
  let tmp: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "cli-line-spec-"));
    // 12 good training parts (8 learned, 4 held out for the threshold), 3 good and 15 defective test parts.
    const synth = captureCli();
    const code = await runCli(["synth", "--out", dir, "--seed", "5", "--count", "12", "--size", SIZE, "--kinds", "cast-surface"], synth.io);
    assert.equal(code, 0, synth.stderr());
    data = join(dir, "cast-surface");
    await writeLabelledDefects(data, "cast-surface", Number(SIZE));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async function () {
    tmp = await mkdtemp(join(dir, "tmp-"));
  });

  afterEach(async function () {
    // Nothing left behind: Node-RED's user directory, and no onnxruntime telemetry files (.ses, mat-debug-*.log).
    assert.deepEqual(await readdir(tmp), [], "the temporary folder is left empty");
  });

  it("runs PatchCore through the six nodes and reports accuracy, latency, throughput and memory", async function () {
    this.timeout(60_000);
    // 8 learned images' scores can keep a 25 % false-reject rate (1 % needs 99).
    const run = await runLine(["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--frr", "25", "--json"], tmp);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "one JSON object and nothing else on stdout");
    const report = JSON.parse(lines[0] as string) as Record<string, unknown>;

    assert.equal(report["method"], "patchcore");
    assert.equal(report["images"], 18);
    assert.equal(report["train_images"], 8);
    // The detector hands over its 8 learned images' leave-one-out scores; no training image is sent again.
    assert.equal(report["calibration_images"], 8);
    assert.equal(report["calibration"], "leave-one-out", "calibrated from the scores the fit handed over");
    assert.ok(Number.isFinite(report["threshold"]), "a calibrated threshold");
    // n = 8 at 25 %: k = ceil(9 * 0.75) = 7, promising 1 - 7/9 = 2/9.
    assert.ok(Math.abs((report["promised_frr"] as number) - 2 / 9) < 1e-12, String(report["promised_frr"]));
    const imageAuroc = inUnit(report, "image_auroc");
    inUnit(report, "pixel_auroc");
    const recall = inUnit(report, "calibrated_recall");
    const frr = inUnit(report, "calibrated_frr");
    const defectRecall = inUnit(report, "defect_recall");
    // The ceilings at 1 % and 5 % false rejects: looser rates catch at least as much.
    assert.ok(inUnit(report, "recall_at_frr_5") >= inUnit(report, "recall_at_frr_1"));
    // Which kinds of defect it catches: one entry per defect folder, counts adding up to the defective parts.
    const byType = report["by_defect_type"] as Record<string, { images: number; recall_at_frr_5: number | null; calibrated_recall: number | null }>;
    assert.deepEqual(Object.keys(byType), ["crack", "hole", "missing-print", "scratch", "spot"]);
    assert.equal(
      Object.values(byType).reduce((sum, t) => sum + t.images, 0),
      15,
    );
    const weighed = Object.values(byType).reduce((sum, t) => sum + t.images * (t.recall_at_frr_5 as number), 0) / 15;
    assert.ok(Math.abs(weighed - inUnit(report, "recall_at_frr_5")) < 1e-12, "the types weigh up to the overall recall");
    const calibrated = Object.values(byType).reduce((sum, t) => sum + t.images * (t.calibrated_recall as number), 0) / 15;
    assert.ok(Math.abs(calibrated - recall) < 1e-12, "and to the threshold node's recall");
    const falseRegions = report["false_regions_per_image"];
    assert.ok(typeof falseRegions === "number" && falseRegions >= 0, `false_regions_per_image >= 0: ${String(falseRegions)}`);
    // The embedded backbone tells these synthetic defects apart: far better than chance.
    assert.ok(imageAuroc > 0.8, `image AUROC ${imageAuroc}`);
    assert.ok(recall > frr, `recall ${recall} above the false-reject rate ${frr}`);
    assert.ok(defectRecall > 0.5, `defect recall ${defectRecall}`);

    const p50 = positive(report, "ms_per_image_p50");
    assert.ok(positive(report, "ms_per_image_p99") >= p50);
    const engine = positive(report, "engine_ms_per_image_p50");
    assert.ok(engine < p50, `the preprocess and detector nodes (${engine} ms) are part of the line's ${p50} ms`);
    positive(report, "images_per_second");
    assert.equal(report["dropped"], 0, "the stream keeps the queues full without overflowing them");
    const loopP99 = report["event_loop_delay_p99_ms"];
    const loopMax = report["event_loop_delay_max_ms"];
    assert.ok(
      typeof loopP99 === "number" && typeof loopMax === "number" && loopP99 >= 0 && loopMax >= loopP99,
      `event loop ${String(loopP99)} / ${String(loopMax)}`,
    );
    const learningP99 = report["learning_event_loop_delay_p99_ms"];
    const learningMax = report["learning_event_loop_delay_max_ms"];
    assert.ok(
      typeof learningP99 === "number" && typeof learningMax === "number" && learningP99 >= 0 && learningMax >= learningP99,
      `event loop while learning ${String(learningP99)} / ${String(learningMax)}`,
    );
    positive(report, "rss_peak_mb");
    assert.equal(report["raw_backbone_ms"], null, "no ONNX backbone to time");
  });

  it("confirms the first N labelled defects to the detector with their masks or boxes (--defect-shots), then inspects", async function () {
    this.timeout(90_000);
    const run = await runLine(["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--defect-shots", "3", "--frr", "25", "--json"], tmp, 90_000);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual([report["defect_shots"], report["defect_regions"], report["images"]], [3, "mask+boxes", 18]);
    positive(report, "confirm_seconds");
    const imageAuroc = inUnit(report, "image_auroc");
    assert.ok(inUnit(report, "recall_at_frr_5") >= inUnit(report, "recall_at_frr_1"));
    // Holes and a spot confirmed: the test set's defects still rank above its good parts.
    assert.ok(imageAuroc > 0.8, `image AUROC ${imageAuroc}`);
    assert.ok(Number.isFinite(report["threshold"]), "calibrated after the confirmations");

    const table = await runLine(["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--defect-shots", "1", "--frr", "25"], tmp, 90_000);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /\nconfirmed defects {7}1 \(regions: mask\) in \d+\.\d s\n/);
  });

  it("runs PaDiM, calibrating on the learned images when none are left over", async function () {
    this.timeout(60_000);
    const run = await runLine(
      ["--data", data, "--method", "padim", "--backbone", "embedded", "--layers", "stage1,stage2", "--size", "64", "--frr", "25", "--json"],
      tmp,
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(report["method"], "padim");
    assert.equal(report["train_images"], 12);
    assert.equal(report["calibration"], "learned");
    assert.equal(report["calibration_images"], 12, "PaDiM hands over no scores: the training images are sent to the threshold");
    assert.ok(inUnit(report, "image_auroc") > 0.5);
    inUnit(report, "calibrated_recall");
    inUnit(report, "calibrated_frr");
    positive(report, "ms_per_image_p50");
  });

  it("fails with exit code 1 and the node's reason, and still cleans up", async function () {
    this.timeout(60_000);
    const run = await runLine(["--data", data, "--backbone", join(dir, "missing.onnx"), "--size", SIZE, "--train-limit", "8"], tmp);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /defect-detection line: learning: .*000\.png: defect-detector failed \(modelNotFound\)/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
    assert.equal(run.stdout, "");
  });

  it("passes --appearance-weight to the detector: the embedded backbone's default 0 scores with the patches alone, 0.5 adds the appearance", async function () {
    this.timeout(60_000);
    const args = ["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--frr", "25", "--json"];
    const thresholds: number[] = [];
    for (const extra of [["--appearance-weight", "0.5"], []]) {
      const run = await runLine([...args, ...extra], tmp);
      assert.equal(run.code, 0, run.stderr);
      thresholds.push((JSON.parse(run.stdout) as { threshold: number }).threshold);
    }
    assert.ok(thresholds.every(Number.isFinite));
    assert.notEqual(thresholds[0], thresholds[1], "0.5 adds the 8 learned parts' appearance terms to the calibration scores");
  });

  it("passes --exposure to the detector: the embedded backbone keeps the pixels as captured by default, even scales each image", async function () {
    this.timeout(60_000);
    const args = ["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--frr", "25", "--json"];
    const thresholds: number[] = [];
    for (const extra of [["--exposure", "even"], [], ["--exposure", "as-captured"]]) {
      const run = await runLine([...args, ...extra], tmp);
      assert.equal(run.code, 0, run.stderr);
      thresholds.push((JSON.parse(run.stdout) as { threshold: number }).threshold);
    }
    assert.ok(thresholds.every(Number.isFinite));
    assert.notEqual(thresholds[0], thresholds[1], "evened out, the learned parts' leave-one-out scores differ");
    assert.equal(thresholds[1], thresholds[2], "the embedded backbone's default is as captured");
  });

  it("passes --neighbourhood to the detector: the embedded backbone averages 3 x 3 by default, 1 keeps each patch alone", async function () {
    this.timeout(60_000);
    const args = ["--data", data, ...EMBEDDED, "--size", SIZE, "--train-limit", "8", "--frr", "25", "--json"];
    const thresholds: number[] = [];
    for (const extra of [["--neighbourhood", "1"], [], ["--neighbourhood", "3"]]) {
      const run = await runLine([...args, ...extra], tmp);
      assert.equal(run.code, 0, run.stderr);
      thresholds.push((JSON.parse(run.stdout) as { threshold: number }).threshold);
    }
    assert.ok(thresholds.every(Number.isFinite));
    assert.notEqual(thresholds[0], thresholds[1], "each patch alone, the learned parts' leave-one-out scores differ");
    assert.equal(thresholds[1], thresholds[2], "the embedded backbone's default is 3 x 3");
  });

  it("answers a wrong command line with one line and exit code 2, before starting anything", async function () {
    const help = '(see "defect-detection line --help")';
    const cases: Array<[string[], RegExp]> = [
      [["line", ...EMBEDDED], /^defect-detection line: --data DIR is required /],
      [["line", "--data", data, "--colour", "red"], /^defect-detection line: Unknown option '--colour' /],
      [["line", "--data", data, ...EMBEDDED, "--neighbors", "3"], /^defect-detection line: --neighbors is not available in line: /],
      [["line", "--data", data, ...EMBEDDED, "--shots", "4", "--train-limit", "3"], /--shots K already picks the first K training images/],
      [["line", "--data", data, ...EMBEDDED, "--shots", "17"], /--shots must be a whole number from 1 to 16/],
      [["line", "--data", data, ...EMBEDDED, "--coreset", "2"], /--coreset must be a number above 0 and at most 1, got "2"/],
      [["line", "--data", data, "--method", "padim"], /--backbone FILE is required for padim/],
      [["line", "--data", data, ...EMBEDDED, "--reference-dir", dir], /--reference-dir DIR is for --method template/],
      [["line", "--data", data, "--method", "anomalib"], /--model FILE is required for anomalib/],
      [["line", "--data", data, "--method", "padim", ...EMBEDDED, "--defect-shots", "2"], /--defect-shots works with --method patchcore/],
      [["line", "--data", data, ...EMBEDDED, "--defect-shots", "0"], /--defect-shots must be a whole number from 1 to/],
      [
        ["line", "--data", data, ...EMBEDDED, "--calibrate", "20"],
        /--calibrate is not used with unsupervised PatchCore: the threshold calibrates from the scores/,
      ],
      [["line", "--data", data, ...EMBEDDED, "--frr", "100"], /--frr must be a percentage above 0 and below 100, got "100"/],
      [["line", "--data", data, ...EMBEDDED, "--appearance-weight", "1"], /--appearance-weight must be a number from 0 to 0.9, got "1"/],
      [["line", "--data", data, ...EMBEDDED, "--lookalikes", "51"], /--lookalikes must be an integer from 0 to 50, got "51"/],
      [["line", "--data", data, ...EMBEDDED, "--exposure", "bright"], /--exposure must be one of auto, even, as-captured, got "bright"/],
      [["line", "--data", data, ...EMBEDDED, "--neighbourhood", "5"], /--neighbourhood must be one of auto, 1, 3, 1,3, got "5"/],
      [["line", "--data", data, ...EMBEDDED, "--place-weights", "yes"], /--place-weights must be one of auto, on, off, got "yes"/],
      [
        ["line", "--data", data, ...EMBEDDED, "--place-weights", "on"],
        /--place-weights must be auto or off with the re-weighted image score \(the weights need a score read from the map: map-top-mean or map-max\), got "on"/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = captureCli();
      assert.equal(await runCli(args, run.io), 2, args.join(" "));
      assert.match(run.stderr(), message, args.join(" "));
      assert.ok(run.stderr().endsWith(`${help}\n`), run.stderr());
      assert.equal(run.stdout(), "");
    }
    const program = await runLine(["--data", data, "--bogus"], tmp);
    assert.equal(program.code, 2);
    assert.equal(program.stderr, `defect-detection line: Unknown option '--bogus' ${help}\n`);
  });

  it("is listed in the help, with its own", async function () {
    const all = captureCli();
    assert.equal(await runCli(["--help"], all.io), 0);
    assert.match(all.stdout(), /\n {2}line {5}run the six nodes in a local Node-RED/);
    const own = captureCli();
    assert.equal(await runCli(["line", "--help"], own.io), 0);
    assert.match(own.stdout(), /^Usage: defect-detection line --data DIR \[options\]/);
    assert.match(own.stdout(), /--train-limit N/);
  });
});
