/**
 * Checks feeds against a model's declared inputs before onnxruntime sees them: its own
 * errors name neither the model nor the expected shape, which is what a flow author needs
 * to fix a preprocess setting.
 */
import { DefectError } from "../errors";

/** A model input or output as the session declares it; symbolic or unknown dims are strings. */
export interface TensorSpec {
  name: string;
  /** onnxruntime's element type name, e.g. "float32"; "non-tensor" for sequences and maps. */
  type: string;
  /** Empty when the model declares no shape (nothing is checked then). */
  shape: Array<number | string>;
}

/** What validation needs of a feed; an `ort.Tensor` fits. */
export interface FeedInfo {
  type: string;
  dims: readonly number[];
}

export function formatShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.join(",")}]`;
}

/** `partial`: some inputs may be missing (feeds kept beside a model, completed at each run). */
export function validateFeeds(
  modelName: string,
  specs: readonly TensorSpec[],
  feeds: Readonly<Record<string, FeedInfo>>,
  options: { partial?: boolean } = {},
): void {
  const expected = specs.map((s) => s.name).join(", ");
  // An unknown name first: a renamed input shows up as both unknown and missing, and the
  // unknown one is the name the user actually typed.
  for (const name of Object.keys(feeds)) {
    if (!specs.some((s) => s.name === name)) {
      throw new DefectError("inputNameMismatch", `model "${modelName}" has no input "${name}" (its inputs: ${expected})`, {
        model: modelName,
        input: name,
        expected,
      });
    }
  }
  for (const spec of specs) {
    const feed = feeds[spec.name];
    if (feed === undefined && options.partial === true) continue;
    if (feed === undefined) {
      throw new DefectError("inputNameMismatch", `model "${modelName}" needs input "${spec.name}", which the feeds lack (its inputs: ${expected})`, {
        model: modelName,
        input: spec.name,
        expected,
      });
    }
    checkFeed(modelName, spec, feed);
  }
}

function checkFeed(modelName: string, spec: TensorSpec, feed: FeedInfo): void {
  if (feed.type !== spec.type) {
    throw new DefectError("inputTypeMismatch", `model "${modelName}" input "${spec.name}" expects ${spec.type} (got ${feed.type})`, {
      model: modelName,
      input: spec.name,
      expected: spec.type,
      actual: feed.type,
    });
  }
  if (spec.shape.length === 0) return;
  const fits =
    feed.dims.length === spec.shape.length &&
    spec.shape.every((dim, i) => {
      const actual = feed.dims[i] ?? 0;
      return typeof dim === "string" ? actual > 0 : actual === dim;
    });
  if (!fits) {
    const expected = formatShape(spec.shape);
    const actual = formatShape(feed.dims);
    throw new DefectError("inputShapeMismatch", `model "${modelName}" input "${spec.name}" expects shape ${expected} (got ${actual})`, {
      model: modelName,
      input: spec.name,
      expected,
      actual,
    });
  }
}
