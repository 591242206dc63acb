import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/main";
import { captureCli } from "../fixtures/cli-io";
import { buildV2Model, writeAnomalibExport, type TempExport } from "../fixtures/anomalib-models";
import { encodePng, inRect, makeImage } from "../fixtures/images";

const SIZE = 16;
const DARK = 40;
const BRIGHT = 200;
const SPOT = { x: 4, y: 6, width: 4, height: 4 };

/**
 * The tiny 2.x export's map is the pixel's channel mean and its score the map's maximum, so a
 * bright spot on a dark part is found exactly: both AUROCs are 1 by construction.
 */
describe("eval --method anomalib", function () {
  let dir: string;
  let exported: TempExport;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "eval-anomalib-"));
    for (const folder of ["train/good", "test/good", "test/spot", "ground_truth/spot"]) await mkdir(join(dir, folder), { recursive: true });
    const dark = await encodePng(makeImage(SIZE, SIZE, 3, () => DARK));
    const spotted = await encodePng(makeImage(SIZE, SIZE, 3, (x, y) => (inRect(x, y, SPOT) ? BRIGHT : DARK)));
    const mask = await encodePng(makeImage(SIZE, SIZE, 1, (x, y) => (inRect(x, y, SPOT) ? 255 : 0)));
    await writeFile(join(dir, "train/good/000.png"), dark);
    for (const i of [0, 1, 2]) await writeFile(join(dir, `test/good/00${i}.png`), dark);
    for (const i of [0, 1]) {
      await writeFile(join(dir, `test/spot/00${i}.png`), spotted);
      await writeFile(join(dir, `ground_truth/spot/00${i}_mask.png`), mask);
    }
    exported = await writeAnomalibExport(buildV2Model({ size: SIZE, scoreShape: "flat" }));
  });

  after(async function () {
    await rm(dir, { recursive: true, force: true });
    await exported.cleanup();
  });

  it("scores the test set with the export and learns nothing", async function () {
    const run = captureCli();
    const code = await runCli(["eval", "--data", dir, "--method", "anomalib", "--model", exported.modelPath, "--json"], run.io);
    assert.equal(run.stderr(), "");
    assert.equal(code, 0);
    const report = JSON.parse(run.stdout()) as Record<string, unknown>;
    assert.equal(report["method"], "anomalib");
    assert.equal(report["train_images"], 0);
    assert.equal(report["test_images"], 5);
    assert.equal(report["image_auroc"], 1);
    assert.equal(report["pixel_auroc"], 1);
    assert.ok(Math.abs((report["f1_max"] as number) - 1) < 1e-9, `f1_max ${String(report["f1_max"])}`);
    assert.equal((report["fit_seconds"] as number) < 1, true);
  });

  it("needs --model", async function () {
    const run = captureCli();
    assert.equal(await runCli(["eval", "--data", dir, "--method", "anomalib"], run.io), 2);
    assert.equal(run.stderr(), 'defect-detection eval: --model FILE is required for anomalib (see "defect-detection eval --help")\n');
  });

  it("names a file that is not an anomalib export", async function () {
    const run = captureCli();
    const missing = join(dir, "nothing.onnx");
    assert.equal(await runCli(["eval", "--data", dir, "--method", "anomalib", "--model", missing], run.io), 1);
    assert.match(run.stderr(), /nothing\.onnx/);
  });
});
