// The detector's patch head judged on training data only (no test image), as `line --defect-shots`
// uses it on deeppcb: the good bank is learned from train/good except the last HOLD boards, the head
// from the first SHOTS sorted train_defect boards (their masks), and the held-out boards stand for
// the test set: their templates as good parts, their train_defect images as defective ones (new
// layouts, as test boards are). Prints image AUROC and recall at 5 % / 1 % false-reject rate of
// S = S_good + mu * max_p max(0, logit_p) per l2 and mu, and the same with other negative sets:
// "bank" = every row of the good bank (as the detector takes up to 8,192), "bankN" = every Nth,
// "shots" = every 8th patch of each learned image (as eval --defect-shots takes them); the labelled
// boards' own patches outside their regions are negatives too, every 8th. Also printed: on how many
// held-out good boards the head fires, and how many a threshold set on S_good alone (the 99 %
// quantile of their S_good, standing for the fit's leave-one-out scores) rejects once the head's
// evidence is added; SHIFT=q lowers the head's bias to the q-quantile of its logits on the bank's
// odd rows (negatives then the even ones); TOPK=k,... tells whether a good board's largest evidence
// lies among its k patches farthest from the bank; MUS=... the weights printed; POOL=1|3|1,3 the
// neighbourhood (the detector's Neighbourhood option; default 1,3, what `line` uses for the boards).
//   npm run build && HOLD=40 SHOTS=10 NEG=bank,bank2,bank8,shots L2=0.001,0.01,0.1 node experiments/patch-head-validation.mjs
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
const root = resolve(new URL("..", import.meta.url).pathname);
const shared = resolve(root, "..", "shared");
if (!existsSync(join(shared, "datasets", "deeppcb"))) {
  console.log(`patch-head-validation skipped: ${shared}/datasets/deeppcb is not here`);
  process.exit(0);
}
const L = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const { openPatchExtractor } = await L("lib/features/extractor.js");
const { parsePreprocessOptions, preprocessImage } = await L("lib/image/index.js");
const { auroc, recallAtFrr } = await L("lib/metrics/index.js");
const { DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer, buildMemoryBank } = await L("lib/anomaly/patchcore/patchcore.js");
const { patchGridMask } = await L("lib/anomaly/patchcore/defect-bank.js");
const { readMvtecDataset } = await L("offline/eval/mvtec-dataset.js");
const { listLabelledDefects, loadDefectRegion } = await L("offline/eval/defect-aware-data.js");
const { cachedEmbedding } = await L("offline/eval/embedding-cache.js");
const head = await L(process.env.HEAD_MODULE || "lib/anomaly/patchcore/region-head.js");
const { patchLogits } = await L("lib/anomaly/patchcore/patch-classifier.js");
const { neighbourhoodOf } = await L("lib/features/neighbourhood.js");
const shift = process.env.SHIFT === undefined ? undefined : Number(process.env.SHIFT);

const HOLD = Number(process.env.HOLD || 40);
const SHOTS = Number(process.env.SHOTS || 10);
const SIZE = 256;
const data = join(shared, "datasets", "deeppcb");
const dataset = readMvtecDataset(data);
const preprocess = parsePreprocessOptions({ preset: "imagenet", width: SIZE, height: SIZE, resize: "stretch" });
const session = { intraOpThreads: 2 };
const POOL = process.env.POOL || "1,3";
const windows = neighbourhoodOf(POOL, 2);
const extractor = await openPatchExtractor({ model: join(shared, "backbones", "resnet50v2_l123.onnx"), layers: ["layer2", "layer3"] }, session, windows);
const cache = { dir: join(root, ".tmp", "head-cache"), key: `resnet50v2_l123 layer2,layer3 ${SIZE} ${windows.join("/")}` };
const embed = (path) =>
  cachedEmbedding(cache, path, async () => extractor.embed((await preprocessImage(await readFile(path), preprocess, { maxPixels: 1e8 })).tensor));

const learned = dataset.train.slice(0, dataset.train.length - HOLD);
const held = dataset.train.slice(dataset.train.length - HOLD);
const heldStems = new Set(held.map((p) => basename(p, extname(p))));
const all = listLabelledDefects(data, 200);
const labelled = all.slice(0, SHOTS);
const heldDefects = all.filter((d) => heldStems.has(basename(d.path, extname(d.path))));
console.log(
  `neighbourhood ${windows.join(",")}: bank ${learned.length} boards, head ${labelled.length} labelled, held out ${held.length} good + ${heldDefects.length} defective`,
);

const t0 = performance.now();
const goods = [];
for (const p of learned) goods.push(await embed(p));
const dim = goods[0].dim;
const rows = goods.length * goods[0].patches;
const features = new Float32Array(rows * dim);
goods.forEach((e, i) => features.set(e.data, i * e.patches * dim));
const options = { ...DEFAULT_PATCHCORE_OPTIONS };
const bank = await buildMemoryBank(features, rows, dim, options, session);
const scorer = await PatchCoreScorer.open(bank, options, session);
console.log(`bank ${bank.size} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const samples = [];
for (const d of labelled) {
  const embedding = await embed(d.path);
  const pixels = await loadDefectRegion(d, SIZE, SIZE);
  samples.push({ embedding, region: patchGridMask(pixels, SIZE, SIZE, embedding.gridWidth, embedding.gridHeight) });
}
const val = [];
for (const p of held) val.push({ e: await embed(p), label: 0 });
for (const d of heldDefects) val.push({ e: await embed(d.path), label: 1 });
for (const v of val) {
  const patches = await scorer.scorePatches(v.e);
  v.good = patches.score;
  v.grid = patches.grid.data;
}
const labels = val.map((v) => v.label);
console.log(
  `PatchCore alone: AUROC ${auroc(
    val.map((v) => v.good),
    labels,
  ).toFixed(3)}, recall@5% ${recallAtFrr(
    val.map((v) => v.good),
    labels,
    0.05,
  ).toFixed(3)}`,
);

const MUS = (process.env.MUS || "0,0.25,0.5,1,2,4,8,16,64,1e6").split(",").map(Number);
const negativeSets = (process.env.NEG || "bank").split(",");
const l2s = (process.env.L2 || "0.001,0.01,0.1").split(",").map(Number);
for (const neg of negativeSets) {
  for (const l2 of l2s) {
    const t1 = performance.now();
    const rowsOf = samples.map((s) => head.regionRows(s));
    const good =
      neg === "shots"
        ? goods.map((e) => head.patchRows(e, (p) => p % head.HEAD_NEGATIVE_STRIDE === 0))
        : [head.patchRows({ data: bank.data, patches: bank.size, dim }, (r) => r % (neg === "bank" ? 1 : Number(neg.slice(4))) === 0)];
    const classifier = head.trainRegionHead(
      rowsOf.map((r) => r.positive),
      [...good, ...rowsOf.map((r) => r.negative)],
      dim,
      l2,
    );
    // SHIFT=q (0..1): the head's operating point set on good bank rows it did not learn (the odd
    // rows; negatives are then the even ones): its bias lowered so the q-quantile of their logits is 0.
    if (shift !== undefined) {
      const heldRows = head.patchRows({ data: bank.data, patches: bank.size, dim }, (r) => r % 2 === 1);
      const logits = Array.from(patchLogits(classifier, heldRows, heldRows.length / dim)).sort((a, b) => a - b);
      const q = logits[Math.min(logits.length - 1, Math.floor(shift * logits.length))];
      console.log(`  held-out good rows ${logits.length}, logit at ${shift}: ${q.toFixed(3)}, max ${logits.at(-1).toFixed(3)}`);
      if (q > 0) classifier.bias -= q;
    }
    const fitS = (performance.now() - t1) / 1000;
    const scorer2 = await head.openHeadScorer(classifier, session);
    const maxE = [];
    for (const v of val) maxE.push((await scorer2.evidence(v.e)).reduce((m, x) => Math.max(m, x), 0));
    // What a threshold set on the bank's scores alone (the 99 % quantile of the held-out good boards' S_good, standing
    // for the leave-one-out scores) rejects once the head's evidence is added: the calibration's promise with the head.
    const goodS = val
      .filter((v) => v.label === 0)
      .map((v) => v.good)
      .sort((a, b) => a - b);
    const t99 = goodS[Math.floor(0.99 * (goodS.length - 1))];
    const fires = val.filter((v, i) => v.label === 0 && maxE[i] > 0).length;
    const rejected = val.filter((v, i) => v.label === 0 && v.good + maxE[i] > t99).length;
    console.log(`  good boards the head fires on: ${fires} of ${goodS.length}; rejected at the bank's 99 % threshold with mu 1: ${rejected}`);
    // TOPK=k,...: the head's largest evidence over a good board's k patches farthest from the bank, against over all.
    for (const k of (process.env.TOPK || "").split(",").filter(Boolean).map(Number)) {
      let same = 0;
      let fires = 0;
      let missed = 0;
      for (const v of val.filter((x) => x.label === 0)) {
        const ev = await scorer2.evidence(v.e);
        const all = ev.reduce((m, x) => Math.max(m, x), 0);
        const top = Array.from(v.grid.keys())
          .sort((a, b) => v.grid[b] - v.grid[a])
          .slice(0, k);
        const part = top.reduce((m, p) => Math.max(m, ev[p]), 0);
        if (all > 0) fires += 1;
        if (Math.abs(part - all) < 1e-6) same += 1;
        else missed += all - part;
      }
      console.log(
        `  top ${k} patches: the board's largest evidence on ${same} of ${goodS.length} good boards (${fires} fire), mean shortfall ${(missed / goodS.length).toFixed(3)}`,
      );
    }
    const line = MUS.map((mu) => {
      const s = val.map((v, i) => v.good + mu * maxE[i]);
      return `mu ${mu}: ${auroc(s, labels).toFixed(3)} / ${recallAtFrr(s, labels, 0.05).toFixed(3)} / ${recallAtFrr(s, labels, 0.01).toFixed(3)}`;
    });
    await scorer2.release();
    console.log(`neg ${neg} l2 ${l2} (fit ${fitS.toFixed(1)} s): AUROC / recall@5% / recall@1%\n  ${line.join("\n  ")}`);
  }
}
await scorer.release();
await extractor.release();
