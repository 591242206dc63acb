/**
 * PatchCore scored straight from an image tensor (backbone and the fused head + search graph as
 * one job on the backbone's worker) against the step-by-step path (extractor, search, JS
 * re-weighting, JavaScript map): the same scores, features and map, one exchange with the worker
 * per image, and the same scores again after that worker dies.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildMemoryBank, DEFAULT_PATCHCORE_OPTIONS, PatchCoreScorer, type PatchCoreOptions } from "../../src/lib/anomaly/patchcore/patchcore";
import { exposureEvenedExtractor } from "../../src/lib/features/even-exposure";
import { openPatchExtractor, type PatchExtractor } from "../../src/lib/features/extractor";
import { IMAGENET_NORMALISATION } from "../../src/lib/image/exposure";
import { meanFeatures } from "../../src/lib/anomaly/patchcore/appearance";
import type { Tensor } from "../../src/lib/image/types";
import { openSessionCount, sessionPool } from "../../src/lib/onnx";
import type { PoolWorker } from "../../src/lib/onnx/worker-pool";
import { Rng } from "../../src/lib/random";
import { writeTinyBackbone } from "../fixtures/tiny-backbone";

const SIZE = 64;

/** Smooth random images with a few bright blobs, so patches differ and some are far from the bank. */
function image(seed: number, blobs: number): Tensor {
  const rng = new Rng(seed);
  const data = new Float32Array(3 * SIZE * SIZE);
  const spots = Array.from({ length: blobs }, () => ({ x: rng.next() * SIZE, y: rng.next() * SIZE, c: Math.floor(rng.next() * 3) }));
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        let v = Math.sin((x + seed) / 5) * Math.cos(y / 7) + 0.3 * (rng.next() - 0.5);
        for (const s of spots) if (s.c === c && (x - s.x) ** 2 + (y - s.y) ** 2 < 16) v += 3;
        data[c * SIZE * SIZE + y * SIZE + x] = v;
      }
    }
  }
  return { data, dims: [1, 3, SIZE, SIZE], layout: "NCHW" };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    assert.ok(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}

/** Counts the requests each live worker is sent, by operation, until restored. */
function countRequests(): { ops: string[]; restore(): void } {
  const ops: string[] = [];
  const restores: Array<() => void> = [];
  for (const worker of sessionPool.live) {
    const original = worker.send.bind(worker);
    (worker as { send: PoolWorker["send"] }).send = ((id, request, transfer) => {
      ops.push(request.op);
      return original(id, request, transfer);
    }) as PoolWorker["send"];
    restores.push(() => {
      (worker as { send: PoolWorker["send"] }).send = original;
    });
  }
  return { ops, restore: () => restores.forEach((r) => r()) };
}

/** The same image at half the exposure, normalised as IMAGENET_NORMALISATION says. */
function dimmed(tensor: Tensor): Tensor {
  const plane = tensor.data.length / 3;
  const { mean, std } = IMAGENET_NORMALISATION;
  const data = tensor.data.map((v, i) => {
    const c = Math.floor(i / plane);
    return ((v * std[c]! + mean[c]!) * 0.5 - mean[c]!) / std[c]!;
  });
  return { ...tensor, data };
}

describe("PatchCore scored from the image tensor (fused)", function () {
  this.timeout(60_000);
  let dir = "";
  let extractor: PatchExtractor;
  const train = [1, 2, 3, 4, 5, 6].map((s) => image(s, 0));
  const tests = [image(11, 0), image(12, 2), image(13, 4)];

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "fused-"));
    extractor = await openPatchExtractor({ model: await writeTinyBackbone(dir), layers: ["l1", "l2"] });
  });

  after(async function () {
    await extractor.release();
    await rm(dir, { recursive: true, force: true });
    assert.equal(openSessionCount(), 0, "every session released");
  });

  async function scorerFor(options: PatchCoreOptions, places: Float32Array | null = null): Promise<PatchCoreScorer> {
    const embeddings = [];
    for (const t of train) embeddings.push(await extractor.embed(t));
    const { dim, patches } = embeddings[0]!;
    const features = new Float32Array(embeddings.length * patches * dim);
    embeddings.forEach((e, i) => features.set(e.data, i * patches * dim));
    const bank = await buildMemoryBank(features, embeddings.length * patches, dim, options);
    return PatchCoreScorer.open(bank, options, undefined, places);
  }

  for (const [name, options] of [
    ["exact search", { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3, scoringDim: 0 }],
    ["subspace search", { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3, scoringDim: 16 }],
  ] as const) {
    it(`gives the step-by-step scores, patch distances and features (${name})`, async function () {
      const scorer = await scorerFor(options);
      try {
        const backbone = extractor.fusable?.();
        assert.ok(backbone !== undefined && scorer.canScoreTensor(backbone), "the extractor offers its backbone once it has embedded an image");
        for (const tensor of tests) {
          const embedding = await extractor.embed(tensor);
          const expected = await scorer.scorePatches(embedding);
          const fused = await scorer.scoreTensor(backbone, tensor, true, { width: SIZE, height: SIZE });
          assert.ok(Math.abs(fused.score - expected.score) <= 1e-4 * Math.max(1, expected.score), `image score ${fused.score} vs ${expected.score}`);
          assert.deepEqual([fused.grid.width, fused.grid.height], [expected.grid.width, expected.grid.height]);
          assertClose(fused.grid.data, expected.grid.data, 1e-4, "patch distances");
          assertClose(fused.embedding!.data, embedding.data, 1e-5, "features");
          assertClose(fused.meanFeatures, meanFeatures(embedding), 1e-5, "the part's appearance (mean features)");
          const map = scorer.anomalyMap(expected.grid, SIZE, SIZE);
          assert.deepEqual([fused.map!.width, fused.map!.height], [SIZE, SIZE]);
          assertClose(fused.map!.data, map.data, 1e-4, "anomaly map");
          const bare = await scorer.scoreTensor(backbone, tensor, false);
          assert.equal(bare.embedding, undefined, "no features unless asked for");
          // The features and the map are side branches of the graph: the scores are the same bits.
          assert.equal(bare.score, fused.score);
          assert.deepEqual(bare.grid.data, fused.grid.data);
        }
        assert.ok(
          (await scorer.scoreTensor(backbone, tests[2]!, false)).score > (await scorer.scoreTensor(backbone, tests[0]!, false)).score,
          "the blobs score above a plain part",
        );
      } finally {
        await scorer.release();
      }
    });
  }

  it("weighs each place's distance in the graph as the step-by-step path does (place weights)", async function () {
    const options = { ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3, scoringDim: 16, imageScore: "map-top-mean" as const };
    const plain = await scorerFor(options);
    const patches = (await extractor.embed(tests[0]!)).patches;
    // Four places in every eight count half.
    const places = Float32Array.from({ length: patches }, (_, p) => (p % 8 < 4 ? 0.5 : 1));
    const weighed = await scorerFor(options, places);
    try {
      const backbone = extractor.fusable!()!;
      for (const tensor of tests) {
        const embedding = await extractor.embed(tensor);
        const unweighted = await plain.scorePatches(embedding);
        const step = await weighed.scorePatches(embedding);
        assertClose(
          step.grid.data,
          unweighted.grid.data.map((d, p) => d * places[p]!),
          1e-6,
          "step path: distances times the weights",
        );
        const fused = await weighed.scoreTensor(backbone, tensor, false, { width: SIZE, height: SIZE });
        assertClose(fused.grid.data, step.grid.data, 1e-4, "fused patch distances");
        assertClose(fused.map!.data, weighed.anomalyMap(step.grid, SIZE, SIZE).data, 1e-4, "the map of the weighted distances");
        assert.ok(Math.abs(fused.score - step.score) <= 1e-4 * Math.max(1, step.score), `image score ${fused.score} vs ${step.score}`);
      }
    } finally {
      await plain.release();
      await weighed.release();
    }
  });

  it("readies the scoring graph before the first image once the layer shapes are known, and the image loads nothing more", async function () {
    const scorer = await scorerFor({ ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3 });
    const fresh = await openPatchExtractor({ model: join(dir, "tiny-backbone.onnx"), layers: ["l1", "l2"] });
    try {
      const cold = fresh.fusable!()!;
      const before = openSessionCount();
      await scorer.prepareTensorScoring(cold, false, { width: SIZE, height: SIZE });
      assert.equal(openSessionCount(), before, "nothing to build before the backbone has shown its layer shapes");
      const backbone = extractor.fusable!()!;
      await scorer.prepareTensorScoring(backbone, false, { width: SIZE, height: SIZE });
      const prepared = openSessionCount();
      assert.equal(prepared, before + 1, "the scoring graph is loaded");
      const calls = countRequests();
      try {
        await scorer.scoreTensor(backbone, tests[1]!, false, { width: SIZE, height: SIZE });
      } finally {
        calls.restore();
      }
      assert.equal(openSessionCount(), prepared, "the image used the prepared graph");
      assert.deepEqual(calls.ops, ["chain"], "one exchange with the worker, no load");
    } finally {
      await fresh.release();
      await scorer.release();
    }
  });

  for (const evened of [false, true])
    it(`scores the first image of a fresh extractor as every later one (the same graph, to the bit${evened ? "; exposure evened out" : ""})`, async function () {
      const scorer = await scorerFor({ ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3 });
      const raw = await openPatchExtractor({ model: join(dir, "tiny-backbone.onnx"), layers: ["l1", "l2"] });
      const fresh = evened ? exposureEvenedExtractor(raw, IMAGENET_NORMALISATION) : raw;
      try {
        const backbone = fresh.fusable?.();
        assert.ok(backbone !== undefined && backbone.shapes === undefined, "nothing embedded yet");
        const cold = await scorer.scoreTensor(backbone, tests[2]!, false);
        assert.ok(fresh.fusable?.()?.shapes !== undefined, "the first image taught the layer shapes");
        const warm = await scorer.scoreTensor(fresh.fusable!()!, tests[2]!, false);
        assert.equal(warm.score, cold.score);
        assert.deepEqual(warm.grid.data, cold.grid.data);
      } finally {
        await fresh.release();
        await scorer.release();
      }
    });

  it("scores an image in one exchange with the backbone's worker", async function () {
    const scorer = await scorerFor({ ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3 });
    try {
      const backbone = extractor.fusable?.()!;
      await scorer.scoreTensor(backbone, tests[0]!, false);
      const counted = countRequests();
      try {
        await scorer.scoreTensor(backbone, tests[1]!, false);
      } finally {
        counted.restore();
      }
      assert.deepEqual(counted.ops, ["chain"]);
    } finally {
      await scorer.release();
    }
  });

  it("evens exposure out in the same exchange (its graph chained before the backbone), with the step path's scores on the evened tensor", async function () {
    const scorer = await scorerFor({ ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3 });
    const evened = exposureEvenedExtractor(extractor, IMAGENET_NORMALISATION);
    try {
      const backbone = evened.fusable!()!;
      await scorer.scoreTensor(backbone, tests[0]!, false);
      for (const tensor of [...tests, dimmed(tests[1]!)]) {
        const expected = await scorer.scorePatches(await evened.embed(tensor));
        const counted = countRequests();
        let fused: Awaited<ReturnType<PatchCoreScorer["scoreTensor"]>>;
        try {
          fused = await scorer.scoreTensor(backbone, tensor, false);
        } finally {
          counted.restore();
        }
        assert.deepEqual(counted.ops, ["chain"], "exposure, backbone and scoring in one exchange");
        assert.ok(Math.abs(fused.score - expected.score) <= 1e-4 * Math.max(1, expected.score), `image score ${fused.score} vs ${expected.score}`);
      }
      const plain = await scorer.scoreTensor(extractor.fusable!()!, dimmed(tests[1]!), false);
      const even = await scorer.scoreTensor(backbone, dimmed(tests[1]!), false);
      assert.notEqual(plain.score, even.score, "the chain did even the dim copy out");
    } finally {
      await scorer.release();
    }
  });

  it("scores the same after the worker dies, with the models loaded again", async function () {
    const scorer = await scorerFor({ ...DEFAULT_PATCHCORE_OPTIONS, coresetRatio: 0.3 });
    try {
      const backbone = extractor.fusable?.()!;
      const before = await scorer.scoreTensor(backbone, tests[2]!, false);
      for (const worker of sessionPool.live) await worker.kill();
      const after = await scorer.scoreTensor(backbone, tests[2]!, false);
      assert.ok(Math.abs(after.score - before.score) <= 1e-5 * Math.max(1, before.score), `${after.score} vs ${before.score}`);
      assertClose(after.grid.data, before.grid.data, 1e-5, "patch distances");
    } finally {
      await scorer.release();
    }
  });
});
