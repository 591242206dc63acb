/**
 * The patch head: a logistic classifier (patch-classifier.ts) on PatchCore's patch features,
 * trained on labelled defects with regions (masks or boxes reduced to the patch grid): the patches
 * of each defect region are positives; good patches, and the labelled images' own patches outside
 * their regions, are negatives. The labelled images' own good areas are there so the head learns
 * the defect, not "an image that has a defect" (a defect board's other patches look like any board).
 *
 * Its evidence for a patch is max(0, logit): only patches the head calls defect (p > 0.5) raise a
 * score, by S = S_good + mu * max_p evidence_p (defect-bank.ts's defectAwareImageScore), so good
 * patches keep their PatchCore score. `eval --defect-shots` and the detector node both train and
 * score through here.
 */
import { createHash } from "node:crypto";
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import type { PatchEmbedding } from "../../features/types";
import { GraphBuilder } from "../../onnx/graph-builder";
import { acquireModelFromBytes, type SessionOptions } from "../../onnx";
import { DEFAULT_PATCH_CLASSIFIER_OPTIONS, trainPatchClassifier, type PatchClassifier } from "./patch-classifier";
import { concatFloat32 } from "../../float32-concat";

/** Every STRIDE-th good patch of an image is a negative: enough of them, at a fraction of the training time. */
export const HEAD_NEGATIVE_STRIDE = 8;
/**
 * The detector's l2, chosen on deeppcb's training images only (experiments/patch-head-validation.mjs:
 * the head learned from the first 10 train_defect boards against a bank of 160 train/good boards,
 * judged on the 40 boards held out, their templates as good and their train_defect images as
 * defects; recall at 5 % / 1 % false rejects with weight 1: 0.975 / 0.975 at l2 0.001, 0.950 /
 * 0.925 at 0.01, 0.750 / 0.375 at 0.1). `eval --defect-shots` keeps the 0.01 its own leave-one-out chose.
 */
export const HEAD_L2 = 0.001;

export interface RegionSample {
  embedding: PatchEmbedding;
  /** Patch-grid defect region (1 = defect cell), gridWidth x gridHeight. */
  region: Uint8Array;
}

/** What one labelled image gives the head: [rows, dim] each. */
export interface RegionRows {
  positive: Float32Array;
  negative: Float32Array;
}

/** The rows of `embedding` whose patch index passes `keep`, in patch order. */
export function patchRows(embedding: PatchEmbedding, keep: (patch: number) => boolean): Float32Array {
  const { dim } = embedding;
  const chosen: number[] = [];
  for (let p = 0; p < embedding.patches; p++) if (keep(p)) chosen.push(p);
  const out = new Float32Array(chosen.length * dim);
  chosen.forEach((p, i) => out.set(embedding.data.subarray(p * dim, p * dim + dim), i * dim));
  return out;
}

/** A labelled image's region patches (positives) and every `stride`-th of its other patches (negatives). */
export function regionRows(sample: RegionSample, stride = HEAD_NEGATIVE_STRIDE): RegionRows {
  const { embedding, region } = sample;
  if (region.length !== embedding.patches) throw new RangeError(`the region covers ${region.length} patches, the image has ${embedding.patches}`);
  return {
    positive: patchRows(embedding, (p) => region[p] !== 0),
    negative: patchRows(embedding, (p) => region[p] === 0 && p % stride === 0),
  };
}

/** The head from positive and negative row blocks ([rows, dim] each). */
export function trainRegionHead(positives: readonly Float32Array[], negatives: readonly Float32Array[], dim: number, l2 = HEAD_L2): PatchClassifier {
  return trainPatchClassifier(concatFloat32(positives), concatFloat32(negatives), dim, { ...DEFAULT_PATCH_CLASSIFIER_OPTIONS, l2 });
}

/**
 * The head as an onnxruntime graph: max(0, ((x - mean) * invStd) . w + b) for every patch row, the
 * arithmetic of patchLogits (patch-classifier.ts) in float32. A graph rather than a loop so the
 * product runs on a session worker, never on Node-RED's thread.
 */
export function buildHeadModel(classifier: PatchClassifier): Uint8Array {
  const { dim } = classifier;
  const g = new GraphBuilder({ name: "patch-head" });
  const input = g.input("features", "float32", ["count", dim]);
  const centred = g.op("Sub", [input, g.constant("mean", classifier.mean, [dim])]);
  const scaled = g.op("Mul", [centred, g.constant("invStd", classifier.invStd, [dim])]);
  const logits = g.op("Add", [g.op("MatMul", [scaled, g.constant("weights", classifier.weights, [dim, 1])]), g.constantFloat("bias", [classifier.bias], [1])]);
  // max(0, logit) from the logit itself: log(p / (1 - p)) is Infinity once p rounds to 1.
  g.output(g.op("Relu", [logits]), "evidence", "float32");
  return g.build();
}

/** The evidence of every patch of an image under one fitted head. */
export interface HeadScorer {
  readonly dim: number;
  /** max(0, logit) per patch, in patch order. */
  evidence(embedding: PatchEmbedding): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Names a head's session by its content: the session cache's rule is one key, one model. */
function headKey(classifier: PatchClassifier): string {
  const hash = createHash("sha256");
  for (const part of [classifier.mean, classifier.invStd, classifier.weights]) hash.update(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
  hash.update(String(classifier.bias));
  return `patch-head:${classifier.dim}:${hash.digest("hex").slice(0, 24)}`;
}

export async function openHeadScorer(classifier: PatchClassifier, session?: SessionOptions): Promise<HeadScorer> {
  const { dim } = classifier;
  const model = await acquireModelFromBytes(headKey(classifier), buildHeadModel(classifier), session);
  return {
    dim,
    async evidence(embedding) {
      if (embedding.dim !== dim) {
        throw new DefectError("inputShapeMismatch", `patch features have ${embedding.dim} values, the patch head ${dim}`, {
          expected: dim,
          actual: embedding.dim,
        });
      }
      const features = new ort.Tensor("float32", embedding.data.subarray(0, embedding.patches * dim), [embedding.patches, dim]);
      const out = await model.run({ features });
      return Float32Array.from((out["evidence"] as ort.Tensor).data as Float32Array);
    },
    release: () => model.release(),
  };
}
