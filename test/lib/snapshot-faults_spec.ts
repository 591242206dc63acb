/**
 * Cameras that misbehave, served on 127.0.0.1 by the test: one that sends headers and then
 * stalls, one that answers HTML or random bytes, one that fails a few times and then recovers,
 * one that is gone (a closed port). Checks the clear error of each, which failures are retried,
 * the back-off waits, and that stopping ends the wait at once.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { DefectError } from "../../src/lib/errors";
import {
  backoffDelay,
  fetchSnapshot,
  isTransientSnapshotError,
  loadImageUrl,
  MAX_RETRY_DELAY_MS,
  parseSourceOptions,
  withRetries,
  type RetryNotice,
} from "../../src/lib/source";
import { closedPortUrl, startHttpServer, type TestServer } from "../fixtures/http-server";
import { encodePng, noiseImage } from "../fixtures/images";

const LIMITS = { maxPixels: 1_000_000 };
const TIMEOUT_MS = 150;
const REQUEST = { timeoutMs: TIMEOUT_MS, maxBytes: 1_000_000 };
/** Short waits so a test with retries takes well under a second. */
const POLICY = { retries: 2, delayMs: 20 };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DefectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DefectError, `expected a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

const defect = (code: ConstructorParameters<typeof DefectError>[0], details: Record<string, string | number> = {}): DefectError =>
  new DefectError(code, code, details);

describe("camera faults and retries (core)", function () {
  let png: Buffer;
  let server: TestServer | undefined;
  let requests = 0;

  /** A camera whose n-th answer (from 1) is given by `answer`. */
  async function camera(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
    requests = 0;
    server = await startHttpServer((req, res) => answer(++requests, req, res));
    return server;
  }

  before(async function () {
    png = await encodePng(noiseImage(16, 12));
  });

  afterEach(async function () {
    await server?.close();
    server = undefined;
  });

  describe("clear errors", function () {
    it("times out a camera that sends headers and part of the image, then stalls", async function () {
      const cam = await camera((_n, _req, res) => {
        res.writeHead(200, { "content-type": "image/png", "content-length": String(png.length) });
        res.write(png.subarray(0, 20));
        // ...and nothing more.
      });
      const error = await rejectsWith(fetchSnapshot({ ...REQUEST, url: cam.url("/stall.png") }), "fetchTimeout");
      assert.equal(error.message, `No complete answer from ${cam.url("/stall.png")} within ${TIMEOUT_MS} ms`);
    });

    it("times out a camera that accepts the connection and never answers", async function () {
      const cam = await camera(() => undefined);
      await rejectsWith(fetchSnapshot({ ...REQUEST, url: cam.url("/hang.jpg") }), "fetchTimeout");
    });

    it("names the URL when a camera answers an HTML page instead of an image", async function () {
      const cam = await camera((_n, _req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Login</body></html>"));
      const error = await rejectsWith(loadImageUrl({ ...REQUEST, url: cam.url("/snap.jpg") }, LIMITS), "notAnImage");
      assert.equal(error.details["source"], cam.url("/snap.jpg"));
      assert.ok(error.message.startsWith(`${cam.url("/snap.jpg")}: `), error.message);
    });

    it("names the URL when a camera answers random bytes", async function () {
      const cam = await camera((_n, _req, res) =>
        res.writeHead(200, { "content-type": "image/jpeg" }).end(Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256))),
      );
      const error = await rejectsWith(loadImageUrl({ ...REQUEST, url: cam.url("/snap.jpg") }, LIMITS), "notAnImage");
      assert.equal(error.details["source"], cam.url("/snap.jpg"));
    });
  });

  describe("which failures are retried", function () {
    it("retries timeouts, dropped connections, 5xx, 408, 429 and non-images, nothing else", function () {
      for (const error of [
        defect("fetchTimeout"),
        defect("fetchFailed", { reason: "ECONNREFUSED" }),
        defect("fetchFailed", { reason: "ECONNRESET" }),
        defect("fetchStatus", { status: 503 }),
        defect("fetchStatus", { status: 500 }),
        defect("fetchStatus", { status: 408 }),
        defect("fetchStatus", { status: 429 }),
        defect("notAnImage"),
        defect("corruptImage"),
      ]) {
        assert.equal(isTransientSnapshotError(error), true, `${error.code} ${JSON.stringify(error.details)}`);
      }
      for (const error of [
        defect("fetchFailed", { reason: "aborted" }),
        defect("fetchFailed", { reason: "too many redirects" }),
        defect("urlNotAllowed"),
        defect("fetchStatus", { status: 401 }),
        defect("fetchStatus", { status: 404 }),
        defect("fetchTooLarge"),
        defect("pixelLimit"),
        defect("unsupportedFormat"),
        defect("invalidOption"),
        new Error("a bug"),
      ]) {
        assert.equal(isTransientSnapshotError(error), false, error instanceof DefectError ? error.code : error.message);
      }
    });

    it("waits twice as long before each retry, never longer than the cap", function () {
      assert.deepEqual(
        [1, 2, 3, 4].map((retry) => backoffDelay({ retries: 4, delayMs: 500 }, retry)),
        [500, 1000, 2000, 4000],
      );
      assert.equal(backoffDelay({ retries: 10, delayMs: 20_000 }, 3), MAX_RETRY_DELAY_MS);
      assert.equal(backoffDelay({ retries: 2, delayMs: 0 }, 2), 0);
    });

    it("reads retries and the first wait from the editor, with defaults and bounds", function () {
      const defaults = parseSourceOptions({ mode: "url", retries: "", retryDelay: "" });
      assert.deepEqual([defaults.retries, defaults.retryDelayMs], [2, 500]);
      const set = parseSourceOptions({ mode: "url", retries: "0", retryDelay: "1500" });
      assert.deepEqual([set.retries, set.retryDelayMs], [0, 1500]);
      for (const [option, value] of [
        ["retries", "1.5"],
        ["retries", "11"],
        ["retries", "-1"],
        ["retryDelay", "30001"],
        ["retryDelay", "soon"],
      ] as const) {
        assert.throws(
          () => parseSourceOptions({ mode: "url", [option]: value }),
          (e: unknown) => e instanceof DefectError && e.code === "invalidOption" && e.details["option"] === option,
          `${option} ${value}`,
        );
      }
    });
  });

  describe("retrying a camera", function () {
    it("recovers from a stall, then an HTML page, on the third attempt, after waits of 20 and 40 ms", async function () {
      const cam = await camera((n, _req, res) => {
        if (n === 1) return; // no answer: times out
        if (n === 2) res.writeHead(200, { "content-type": "text/html" }).end("<html>booting</html>");
        else res.writeHead(200, { "content-type": "image/png" }).end(png);
      });
      const notices: RetryNotice[] = [];
      const image = await withRetries(() => loadImageUrl({ ...REQUEST, url: cam.url("/snap.png") }, LIMITS), POLICY, {
        onRetry: (notice) => notices.push(notice),
      });
      assert.ok(image.buffer.equals(png));
      assert.deepEqual([image.width, image.height], [16, 12]);
      assert.equal(requests, 3);
      assert.deepEqual(
        notices.map((n) => [(n.error as DefectError).code, n.attempt, n.attempts, n.delayMs]),
        [
          ["fetchTimeout", 1, 3, 20],
          ["notAnImage", 2, 3, 40],
        ],
      );
    });

    it("gives up after 1 + retries attempts with the last error, its code and the attempt count", async function () {
      const cam = await camera((_n, _req, res) => res.writeHead(503, "Service Unavailable").end());
      const error = await rejectsWith(
        withRetries(() => fetchSnapshot({ ...REQUEST, url: cam.url("/snap.jpg") }), POLICY),
        "fetchStatus",
      );
      assert.equal(requests, 3);
      assert.equal(error.details["attempts"], 3);
      assert.equal(error.details["status"], 503);
      assert.equal(error.message, `${cam.url("/snap.jpg")} answered HTTP 503 Service Unavailable (gave up after 3 attempts)`);
    });

    it("keeps trying a camera that is gone (closed port) and reports the refusal", async function () {
      const url = await closedPortUrl("/snap.jpg");
      const notices: RetryNotice[] = [];
      const error = await rejectsWith(
        withRetries(() => fetchSnapshot({ ...REQUEST, url }), POLICY, { onRetry: (n) => notices.push(n) }),
        "fetchFailed",
      );
      assert.equal(error.details["reason"], "ECONNREFUSED");
      assert.equal(error.details["attempts"], 3);
      assert.equal(notices.length, 2);
    });

    it("does not retry a wrong URL, wrong credentials or an oversized answer", async function () {
      const cam = await camera((_n, req, res) => {
        if (req.url === "/401") res.writeHead(401).end();
        else if (req.url === "/404") res.writeHead(404).end();
        else res.writeHead(200).end(png);
      });
      for (const [path, code] of [
        ["/401", "fetchStatus"],
        ["/404", "fetchStatus"],
      ] as const) {
        requests = 0;
        const error = await rejectsWith(
          withRetries(() => fetchSnapshot({ ...REQUEST, url: cam.url(path) }), POLICY),
          code,
        );
        assert.equal(requests, 1, path);
        assert.equal(error.details["attempts"], undefined, "one attempt: the error is unchanged");
      }
      requests = 0;
      await rejectsWith(
        withRetries(() => fetchSnapshot({ ...REQUEST, maxBytes: 10, url: cam.url("/big") }), POLICY),
        "fetchTooLarge",
      );
      assert.equal(requests, 1);
    });

    it("with no retries, fails on the first error", async function () {
      const cam = await camera((_n, _req, res) => res.writeHead(503).end());
      const error = await rejectsWith(
        withRetries(() => fetchSnapshot({ ...REQUEST, url: cam.url("/x") }), { retries: 0, delayMs: 20 }),
        "fetchStatus",
      );
      assert.equal(requests, 1);
      assert.equal(error.details["attempts"], undefined);
    });

    it("stops waiting at once when the caller aborts during a back-off wait", async function () {
      const cam = await camera((_n, _req, res) => res.writeHead(503).end());
      const stop = new AbortController();
      const pending = withRetries(
        () => fetchSnapshot({ ...REQUEST, url: cam.url("/x"), signal: stop.signal }),
        { retries: 5, delayMs: 10_000 },
        {
          signal: stop.signal,
          onRetry: () => setTimeout(() => stop.abort(), 10),
        },
      );
      const error = await rejectsWith(pending, "fetchFailed");
      assert.deepEqual(error.details, { url: cam.url("/x"), reason: "aborted" });
      // Without the stop, the 10 s wait would end in a second request (or this test's timeout).
      assert.equal(requests, 1, "no attempt after the stop");
    });
  });
});
