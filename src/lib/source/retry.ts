/**
 * Retrying a camera snapshot with exponential back-off: a camera that reboots, drops off the
 * network for a moment or answers a half-written frame gets a few more chances before the
 * message fails; a wrong URL, wrong credentials or an oversized image fail at once.
 */
import { DefectError, isDefectError } from "../errors";

export const DEFAULT_RETRIES = 2;
export const DEFAULT_RETRY_DELAY_MS = 500;
/** No wait between attempts is longer than this, however many retries are configured. */
export const MAX_RETRY_DELAY_MS = 30_000;
/** More retries than this would keep one message waiting for minutes. */
export const MAX_RETRIES = 10;

export interface RetryPolicy {
  /** Attempts after the first; 0 = no retry. */
  retries: number;
  /** Wait before the first retry; each later wait doubles, up to MAX_RETRY_DELAY_MS. */
  delayMs: number;
}

export interface RetryNotice {
  error: unknown;
  /** The attempt that failed, from 1. */
  attempt: number;
  attempts: number;
  delayMs: number;
}

/** HTTP answers that say "try again later" rather than "this request is wrong". */
const TRANSIENT_HTTP = new Set([408, 425, 429]);
const HTTP_SERVER_ERRORS = 500;

/**
 * Failures worth another attempt: no answer in time, a dropped connection, a server error, or
 * bytes that are no (complete) image, which cameras send while they restart. Not retried: the
 * caller stopping, other HTTP 4xx (URL or credentials wrong), size and pixel limits, bad options.
 */
export function isTransientSnapshotError(error: unknown): boolean {
  if (!isDefectError(error)) return false;
  switch (error.code) {
    case "fetchTimeout":
    case "notAnImage":
    case "corruptImage":
      return true;
    case "fetchFailed":
      // A redirect loop is the server's setup, not a passing fault.
      return error.details["reason"] !== "aborted" && error.details["reason"] !== "too many redirects";
    case "fetchStatus": {
      const status = Number(error.details["status"]);
      return status >= HTTP_SERVER_ERRORS || TRANSIENT_HTTP.has(status);
    }
    default:
      return false;
  }
}

/** The wait before retry number `retry` (1-based): delayMs, 2 delayMs, 4 delayMs ... capped. */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, policy.delayMs * 2 ** (retry - 1));
}

/** The URL a snapshot error names (fetch errors: `url`; image errors: `source`). */
function urlOf(error: unknown): string {
  if (!isDefectError(error)) return "";
  const url = error.details["url"] ?? error.details["source"];
  return typeof url === "string" ? url : "";
}

/**
 * Resolves after `ms`, or rejects at once when `signal` aborts (the node stopped), as an
 * aborted download of the URL that `last` failed on would.
 */
function wait(ms: number, signal: AbortSignal | undefined, last: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const stopped = (): DefectError => {
      const url = urlOf(last);
      return new DefectError("fetchFailed", `Stopped while waiting to retry ${url}`.trimEnd(), { url, reason: "aborted" });
    };
    if (signal?.aborted === true) {
      reject(stopped());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(stopped());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not transient, or has been tried
 * 1 + retries times. The last error is thrown with `attempts` added to its details.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  options: { signal?: AbortSignal; onRetry?: (notice: RetryNotice) => void } = {},
): Promise<T> {
  const attempts = 1 + policy.retries;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= attempts || options.signal?.aborted === true || !isTransientSnapshotError(error)) {
        if (isDefectError(error) && n > 1) {
          throw new DefectError(error.code, `${error.message} (gave up after ${n} attempts)`, { ...error.details, attempts: n }, { cause: error });
        }
        throw error;
      }
      const delayMs = backoffDelay(policy, n);
      options.onRetry?.({ error, attempt: n, attempts, delayMs });
      await wait(delayMs, options.signal, error);
    }
  }
}
