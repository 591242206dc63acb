/**
 * A light supervised head on the PatchCore patch features: L2-regularised logistic regression,
 * defect-region patches (from masks or boxes) against good patches, trained in Node by full-batch
 * gradient descent on standardised features. Classes are weighted to equal total weight because
 * a few labelled defects give tens of defect patches against thousands of good ones.
 */
import { DefectError } from "../../errors";

export interface PatchClassifierOptions {
  /** L2 penalty on the weights (standardised features). */
  l2: number;
  epochs: number;
  learningRate: number;
}

/**
 * Strong penalty: with ~1500 feature dimensions and a few hundred defect patches, a weak penalty
 * separates the training patches perfectly and generalises poorly.
 */
export const DEFAULT_PATCH_CLASSIFIER_OPTIONS: Readonly<PatchClassifierOptions> = Object.freeze({ l2: 0.1, epochs: 200, learningRate: 0.5 });

/** Guards the standardisation against constant feature channels. */
const MIN_STD = 1e-6;

export interface PatchClassifier {
  dim: number;
  mean: Float32Array;
  invStd: Float32Array;
  weights: Float32Array;
  bias: number;
}

/** `positive` and `negative` are row-major [count, dim]. */
export function trainPatchClassifier(
  positive: Float32Array,
  negative: Float32Array,
  dim: number,
  options: PatchClassifierOptions = DEFAULT_PATCH_CLASSIFIER_OPTIONS,
): PatchClassifier {
  const nPos = positive.length / dim;
  const nNeg = negative.length / dim;
  if (!Number.isInteger(nPos) || !Number.isInteger(nNeg) || nPos < 1 || nNeg < 1) {
    throw new DefectError(
      "invalidOption",
      `a patch classifier needs defect and good patches of ${dim} values, got ${positive.length} and ${negative.length} values`,
      {
        option: "defectShots",
        value: nPos,
      },
    );
  }
  const rows = nPos + nNeg;
  const mean = new Float32Array(dim);
  const invStd = new Float32Array(dim);
  const at = (r: number): Float32Array => (r < nPos ? positive.subarray(r * dim, r * dim + dim) : negative.subarray((r - nPos) * dim, (r - nPos) * dim + dim));
  for (let r = 0; r < rows; r++) {
    const x = at(r);
    for (let c = 0; c < dim; c++) mean[c] = (mean[c] as number) + (x[c] as number) / rows;
  }
  const variance = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const x = at(r);
    for (let c = 0; c < dim; c++) variance[c] = (variance[c] as number) + ((x[c] as number) - (mean[c] as number)) ** 2 / rows;
  }
  for (let c = 0; c < dim; c++) invStd[c] = 1 / Math.max(MIN_STD, Math.sqrt(variance[c] as number));
  const z = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const x = at(r);
    for (let c = 0; c < dim; c++) z[r * dim + c] = ((x[c] as number) - (mean[c] as number)) * (invStd[c] as number);
  }
  // Each class carries half the loss, whatever its count.
  const weightOf = (r: number): number => (r < nPos ? 0.5 / nPos : 0.5 / nNeg);
  const w = new Float64Array(dim);
  let b = 0;
  const grad = new Float64Array(dim);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    grad.fill(0);
    let gradB = 0;
    for (let r = 0; r < rows; r++) {
      let logit = b;
      const off = r * dim;
      for (let c = 0; c < dim; c++) logit += (w[c] as number) * (z[off + c] as number);
      const error = (1 / (1 + Math.exp(-logit)) - (r < nPos ? 1 : 0)) * weightOf(r);
      for (let c = 0; c < dim; c++) grad[c] = (grad[c] as number) + error * (z[off + c] as number);
      gradB += error;
    }
    for (let c = 0; c < dim; c++) w[c] = (w[c] as number) - options.learningRate * ((grad[c] as number) + options.l2 * (w[c] as number));
    b -= options.learningRate * gradB;
  }
  return { dim, mean, invStd, weights: Float32Array.from(w), bias: b };
}

/** Defect probability of each patch row of `features` ([patches, dim]). */
export function classifyPatches(classifier: PatchClassifier, features: Float32Array, patches: number): Float32Array {
  return patchLogits(classifier, features, patches).map((logit) => 1 / (1 + Math.exp(-logit)));
}

/**
 * The classifier's logit of each patch row: finite where the probability would round to exactly 1
 * in float32 (and its logit to Infinity).
 */
export function patchLogits(classifier: PatchClassifier, features: Float32Array, patches: number): Float32Array {
  const { dim } = classifier;
  if (features.length !== patches * dim) {
    throw new DefectError("inputShapeMismatch", `patch features have ${features.length / Math.max(1, patches)} values, the classifier ${dim}`, {
      expected: dim,
      actual: features.length / Math.max(1, patches),
    });
  }
  const out = new Float32Array(patches);
  for (let p = 0; p < patches; p++) {
    let logit = classifier.bias;
    for (let c = 0; c < dim; c++)
      logit += (classifier.weights[c] as number) * ((features[p * dim + c] as number) - (classifier.mean[c] as number)) * (classifier.invStd[c] as number);
    out[p] = logit;
  }
  return out;
}
