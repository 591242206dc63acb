/**
 * Session workers run below Node-RED's own thread. On 2 cores a streaming line keeps both busy
 * with inference; at the same priority Node-RED's thread got half a core, and a 20 ms garbage
 * collection there became a 50 ms pause of every flow (BENCHMARKS.md). Fit and template workers
 * lower themselves too.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { isMainThread } from "node:worker_threads";

/** Nice value of a session worker and of the onnxruntime threads it starts (they inherit it). */
export const WORKER_NICE = 10;

/**
 * Lowers the calling worker thread's priority (Linux, where nice is per thread); on the main
 * thread, elsewhere, or if refused, nothing changes.
 */
export function yieldToMainThread(): void {
  if (isMainThread || process.platform !== "linux") return;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, WORKER_NICE);
  } catch {
    // No /proc or not permitted: inference then runs at Node-RED's own priority.
  }
}
