/** Bounded input queues with a drop policy, shared by the nodes that take a stream of images. */
export { DEFAULT_QUEUE_SIZE, InputQueue, MAX_QUEUE_SIZE, OVERFLOW_POLICIES, parseQueueOptions } from "./input-queue";
export type { DropReason, OverflowPolicy, QueueHandlers, QueueOptions, QueueStats } from "./input-queue";
export { TransitLimiter } from "./transit";
