/**
 * Downloading one snapshot from an HTTP(S) camera or image server, bounded in time and size,
 * with each way of failing mapped to its own error code.
 */
import { DefectError, describeError } from "../errors";
import { errnoCode } from "./read-file";

export const DEFAULT_FETCH_TIMEOUT_MS = 5000;
const BYTES_PER_MEGABYTE = 1024 * 1024;
/** Generous for a single camera frame, small enough that a wrong URL cannot fill memory. */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 50 * BYTES_PER_MEGABYTE;

export interface BasicAuth {
  user: string;
  password: string;
}

export interface SnapshotRequest {
  url: string;
  /**
   * Where `auth` may be sent: origins ("https://cam:8443") and hosts ("cam", "cam:8443"). The
   * credentials go only to a URL, or a redirect target, that one of them names; undefined: only
   * to the origin of `url` itself (a URL the node was configured with).
   */
  credentialsFor?: readonly string[];
  /** Hosts a URL and its redirects may name ("cam" or "cam:8443"); undefined or empty: any. */
  allowedHosts?: readonly string[];
  /** Covers the whole download: connect, headers and body. */
  timeoutMs: number;
  maxBytes: number;
  auth?: BasicAuth;
  /** Aborts the download from outside, e.g. when the node is stopped. */
  signal?: AbortSignal;
}

const ALLOWED_PROTOCOLS = new Set(["http:", "https:"]);

/** Validates a snapshot URL: absolute and http or https. */
export function parseSnapshotUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch (error) {
    throw new DefectError("invalidOption", `"${url}" is not a valid URL`, { option: "url", value: url }, { cause: error });
  }
  if (!ALLOWED_PROTOCOLS.has(parsed.protocol)) {
    throw new DefectError("invalidOption", `URL ${redactUrl(parsed)} uses ${parsed.protocol}, only http: and https: are supported`, {
      option: "url",
      value: redactUrl(parsed),
    });
  }
  return parsed;
}

/** The URL without user and password, safe for messages, topics and logs. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/**
 * fetch() refuses URLs that carry credentials, so user:password@ in the URL becomes a basic-auth
 * header; explicit `auth` wins over the URL's.
 */
function authorizationHeader(url: URL, auth: BasicAuth | undefined): string | undefined {
  const user = auth?.user ?? decodeURIComponent(url.username);
  const password = auth?.password ?? decodeURIComponent(url.password);
  if (user === "" && password === "") return undefined;
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}

type AbortReason = "timeout" | "stopped";

/** Redirects followed at most: a camera's login page or a load balancer, not a chain. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Whether `url`'s host (with or without its port) or its origin is one of `names`. */
function names(url: URL, list: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const withPort = url.port === "" ? host : `${host}:${url.port}`;
  return list.some((entry) => {
    const name = entry.trim().toLowerCase();
    return name === host || name === withPort || name === url.origin.toLowerCase();
  });
}

/** Refuses a URL (or redirect target) outside the allowed hosts. */
function checkAllowed(url: URL, allowedHosts: readonly string[] | undefined): void {
  if (allowedHosts === undefined || allowedHosts.length === 0 || names(url, allowedHosts)) return;
  throw new DefectError("urlNotAllowed", `${redactUrl(url)} is not on the node's allowed hosts (${allowedHosts.join(", ")})`, {
    url: redactUrl(url),
    allowed: allowedHosts.join(", "),
  });
}

function tooLarge(url: string, maxBytes: number, size: number): DefectError {
  return new DefectError("fetchTooLarge", `Download from ${url} is larger than the limit of ${maxBytes} bytes (at least ${size} bytes)`, {
    url,
    maxBytes,
    size,
  });
}

async function readLimitedBody(response: Response, url: string, maxBytes: number): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(url, maxBytes, declared);
  }
  if (response.body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(url, maxBytes, size);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** undici reports network failures as TypeError("fetch failed") with the system error as cause. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return errnoCode(cause) ?? errnoCode(error) ?? describeError(cause ?? error);
}

/** Downloads the body as a Buffer; the bytes are not inspected here. */
export async function fetchSnapshot(request: SnapshotRequest): Promise<Buffer> {
  const parsed = parseSnapshotUrl(request.url);
  const url = redactUrl(parsed);
  const controller = new AbortController();
  let abortReason: AbortReason | undefined;
  const abort = (reason: AbortReason): void => {
    abortReason ??= reason;
    controller.abort();
  };
  const timer = setTimeout(() => abort("timeout"), request.timeoutMs);
  const onStop = (): void => abort("stopped");
  if (request.signal?.aborted === true) onStop();
  request.signal?.addEventListener("abort", onStop, { once: true });

  const authorization = authorizationHeader(parsed, request.auth);
  const credentialsFor = request.credentialsFor ?? [parsed.origin];

  try {
    checkAllowed(parsed, request.allowedHosts);
    // Redirects are followed here, not by fetch: the credentials go to a target only if it is
    // one of theirs, and every target must be on the allowed hosts.
    let target = new URL(url);
    let response: Response;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {};
      if (authorization !== undefined && names(target, credentialsFor)) headers["authorization"] = authorization;
      response = await fetch(target.href, { signal: controller.signal, headers, redirect: "manual" });
      const location = REDIRECT_STATUSES.has(response.status) ? response.headers.get("location") : null;
      if (location === null) break;
      await response.body?.cancel();
      if (hop >= MAX_REDIRECTS) {
        throw new DefectError("fetchFailed", `Could not fetch ${url}: more than ${MAX_REDIRECTS} redirects`, { url, reason: "too many redirects" });
      }
      const next = parseSnapshotUrl(new URL(location, target).href);
      checkAllowed(next, request.allowedHosts);
      target = new URL(redactUrl(next));
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new DefectError("fetchStatus", `${url} answered HTTP ${response.status} ${response.statusText}`.trimEnd(), {
        url,
        status: response.status,
        statusText: response.statusText,
      });
    }
    return await readLimitedBody(response, url, request.maxBytes);
  } catch (error) {
    if (error instanceof DefectError) throw error;
    if (abortReason === "timeout") {
      throw new DefectError(
        "fetchTimeout",
        `No complete answer from ${url} within ${request.timeoutMs} ms`,
        {
          url,
          timeoutMs: request.timeoutMs,
        },
        { cause: error },
      );
    }
    const reason = abortReason === "stopped" ? "aborted" : networkReason(error);
    throw new DefectError("fetchFailed", `Could not fetch ${url}: ${reason}`, { url, reason }, { cause: error });
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onStop);
  }
}
