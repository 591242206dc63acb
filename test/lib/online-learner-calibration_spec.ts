/**
 * A defect verdict's answer when the kept learned images cannot be scored again: the verdict is
 * saved and answered (without the scores), and the failure is reported, not thrown at the operator.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OnlineLearner, type OnlineCapable } from "../../src/lib/detector/online/online-learner";
import { emptyDrift } from "../../src/lib/detector/online/drift";
import { ModelVersions } from "../../src/lib/detector/storage/model-versions";
import type { OnlineCounts, PartFeatures } from "../../src/lib/detector/types";

describe("a defect verdict whose kept images cannot be scored again", function () {
  let dir = "";
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "defect-learner-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("is saved and answered without scores, and the failure is reported", async function () {
    const added: string[] = [];
    let version = 1;
    const counts = (): OnlineCounts => ({
      good: 10,
      pending: 0,
      defect: added.length,
      labelled: 0,
      shotsLearned: 0,
      defectsLearned: added.length,
      version,
      updated: null,
      refreshing: false,
    });
    const part: PartFeatures = { data: new Float32Array(8), patches: 4, dim: 2, gridWidth: 2, gridHeight: 2, patchScores: new Float32Array(4), score: 1 };
    const model: OnlineCapable = {
      info: {},
      check: () => undefined,
      inspect: () => Promise.reject(new Error("not used")),
      release: () => Promise.resolve(),
      online: {
        inspectPart: (() =>
          Promise.resolve({ inspection: { score: 1, map: undefined, timings: {} }, part })) as unknown as OnlineCapable["online"]["inspectPart"],
        add: (verdict) => void added.push(verdict),
        flush: () => Promise.resolve(),
        counts,
        drift: emptyDrift(),
        save: async (path, next) => {
          version = next;
          await writeFile(path, `version ${next}`);
        },
        onSwap: () => undefined,
        onError: () => undefined,
        idle: () => Promise.resolve(),
        calibration: () => Promise.reject(new Error("the backbone failed on a kept image")),
      },
    };
    const reported: unknown[] = [];
    const versions = new ModelVersions(join(dir, "m.ddm"), 0);
    const learner = new OnlineLearner(
      { recentParts: 4, driftWindow: 20, driftRatio: 1.5 },
      versions,
      (job) => job(),
      () => model,
      (e) => reported.push(e),
    );
    const answer = await learner.confirm(model, {
      verdict: "defect",
      sample: { tensor: { data: new Float32Array(12), dims: [1, 3, 2, 2], layout: "NCHW" }, preprocessing: undefined, name: "p" },
    });
    assert.deepEqual(answer, { confirmed: "defect", partId: null, bank: { good: 10, defect: 1, labelled: 0, pending: 0 }, version: 2 });
    assert.equal(await readFile(join(dir, "m.ddm"), "utf8"), "version 2", "the verdict is saved");
    assert.deepEqual(
      reported.map((e) => (e as Error).message),
      ["the backbone failed on a kept image"],
    );
  });
});
