/** A ModelSource as onnxruntime loads it: a path, or bytes (built here for a "built" source). */
import type { ModelBuilder, ModelSource } from "./worker-protocol";

export function loadable(source: ModelSource): string | Uint8Array {
  switch (source.kind) {
    case "file":
      return source.path;
    case "bytes":
      return source.bytes;
    case "built": {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the builder is named at run time, by absolute path
      const builder = require(source.builder) as ModelBuilder;
      return builder.buildModel(source.job);
    }
  }
}
