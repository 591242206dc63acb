/** The ONNX core: building small models in code and running models through shared sessions. */
export { GraphBuilder, Value, attr } from "./graph-builder";
export type {
  Attributes,
  AttributeValue,
  Dim,
  ElementType,
  FloatAttribute,
  FloatsAttribute,
  GraphOptions,
  OpOptions,
  TensorAttribute,
  TensorData,
} from "./graph-builder";
export { acquireBuiltModel, acquireModel, acquireModelFromBytes, defaultIntraOpThreads, openSessionCount, runChain, toOrtOptions } from "./session";
export type { ChainLink, KeptFeeds, ModelHandle, Placement, RunOptions, SessionOptions } from "./session";
export { defaultWorkerCount, MAX_POOL_WORKERS, sessionPool } from "./worker-pool";
export { formatShape, validateFeeds } from "./feeds";
export type { FeedInfo, TensorSpec } from "./feeds";
