import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DefectError } from "../../src/lib/errors";
import {
  compileFilePattern,
  DEFAULT_IMAGE_PATTERN,
  fetchSnapshot,
  listFolderFiles,
  loadImageBytes,
  loadImageFile,
  parseSnapshotUrl,
  parseSourceOptions,
  readImageFile,
  redactUrl,
  resolveSourcePath,
  watchFolder,
} from "../../src/lib/source";
import { closedPortUrl, startHttpServer, type TestServer } from "../fixtures/http-server";
import { encodePng, noiseImage } from "../fixtures/images";

const LIMITS = { maxPixels: 1_000_000 };
const STABLE_MS = 200;

/** Asserts that `promise` rejects with a DefectError of `code`, returning it for more checks. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DefectError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DefectError, `expected a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function throwsWith(fn: () => unknown, code: string): DefectError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DefectError, `expected a DefectError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

function waitFor<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("image sources (core)", function () {
  let dir = "";
  let png: Buffer;

  before(async function () {
    png = await encodePng(noiseImage(8, 6));
  });
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), "defect-source-"));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("file patterns", function () {
    it("matches names case-insensitively against comma-separated globs", function () {
      const match = compileFilePattern("*.png, part-??.jpg");
      assert.deepEqual(["a.png", "B.PNG", "part-01.jpg", "part-1.jpg", "a.png.tmp", "notes.txt"].map(match), [true, true, true, false, false, false]);
    });

    it("treats regular-expression characters literally and empty as the default image pattern", function () {
      assert.equal(compileFilePattern("a+b.png")("a+b.png"), true);
      const parts = compileFilePattern("*_*_*_*_*_*.png");
      assert.deepEqual(["a_b_c_d_e_f.png", "a_b_c_d_e.png", "____.png", "_____.png", "a_b_c_d_e_f.png.tmp"].map(parts), [true, false, false, true, false]);
      // As a regular expression of .* runs this backtracked for 21 s on 60 underscores, and for
      // about 20 minutes on 100, all on Node-RED's event loop; the matcher retries only from
      // the last star: at most 100 x 19 steps.
      const many = compileFilePattern("*_*_*_*_*_*_*_*.png");
      assert.equal(many("_".repeat(100)), false);
      assert.equal(many(`${"_".repeat(100)}.png`), true);
      assert.equal(compileFilePattern("*?.PNG")("x.png"), true);
      assert.equal(compileFilePattern("*?.png")(".png"), false);
      assert.equal(compileFilePattern("a+b.png")("aab.png"), false);
      const defaults = compileFilePattern("");
      assert.deepEqual(["x.jpeg", "x.tiff", "x.webp", "x.gif"].map(defaults), [true, true, true, false]);
      assert.ok(DEFAULT_IMAGE_PATTERN.includes("*.png"));
    });

    it("rejects folder parts in a pattern", function () {
      const error = throwsWith(() => compileFilePattern("sub/*.png"), "invalidOption");
      assert.deepEqual(error.details, { option: "pattern", value: "sub/*.png" });
    });
  });

  describe("options", function () {
    it("fills defaults from empty editor values", function () {
      const options = parseSourceOptions({ mode: "file", timeout: "", maxDownload: "", stableMs: "" });
      assert.equal(options.mode, "file");
      assert.equal(options.timeoutMs, 5000);
      assert.equal(options.maxBytes, 50 * 1024 * 1024);
      assert.equal(options.stableMs, 500);
      assert.equal(options.emitExisting, false);
      assert.equal(options.pattern, DEFAULT_IMAGE_PATTERN);
    });

    it("converts editor strings", function () {
      const options = parseSourceOptions({ mode: "folder", folder: " in ", emitExisting: "true", stableMs: "250", maxDownload: "2" });
      assert.equal(options.folder, "in");
      assert.equal(options.emitExisting, true);
      assert.equal(options.stableMs, 250);
      assert.equal(options.maxBytes, 2 * 1024 * 1024);
    });

    it("names the option and value it rejects", function () {
      assert.deepEqual(throwsWith(() => parseSourceOptions({ mode: "url", timeout: "abc" }), "invalidOption").details, {
        option: "timeout",
        value: "abc",
        expected: "a positive number",
      });
      assert.deepEqual(throwsWith(() => parseSourceOptions({ mode: "url", timeout: -5 }), "invalidOption").details, {
        option: "timeout",
        value: "-5",
        expected: "a positive number",
      });
      assert.equal(throwsWith(() => parseSourceOptions({ mode: "camera" }), "invalidOption").details["option"], "mode");
      assert.equal(throwsWith(() => parseSourceOptions({ mode: "url", url: "ftp://cam/x.jpg" }), "invalidOption").details["option"], "url");
      assert.equal(throwsWith(() => parseSourceOptions({ mode: "folder", folder: "" }), "missingSource").details["option"], "folder");
    });
  });

  describe("files", function () {
    it("resolves relative paths against the base directory", function () {
      assert.equal(resolveSourcePath("a/b.png", "/data/nr"), "/data/nr/a/b.png");
      assert.equal(resolveSourcePath("/abs/b.png", "/data/nr"), "/abs/b.png");
    });

    it("reads the bytes unchanged", async function () {
      writeFileSync(join(dir, "a.png"), png);
      assert.ok((await readImageFile(join(dir, "a.png"))).equals(png));
    });

    it("tells a missing file from an unreadable one", async function () {
      const missing = await rejectsWith(readImageFile(join(dir, "none.png")), "fileNotFound");
      assert.deepEqual(missing.details, { path: join(dir, "none.png") });
      const folder = await rejectsWith(readImageFile(dir), "fileReadFailed");
      assert.equal(folder.details["reason"], "not a regular file");
    });

    it("probes a loaded file and names it in image errors", async function () {
      writeFileSync(join(dir, "a.png"), png);
      const image = await loadImageFile(join(dir, "a.png"), LIMITS, "folder");
      assert.deepEqual(
        { ...image, buffer: image.buffer.length },
        {
          format: "png",
          width: 8,
          height: 6,
          channels: 3,
          bitDepth: 8,
          orientation: 1,
          buffer: png.length,
          source: "folder",
          path: join(dir, "a.png"),
        },
      );
      writeFileSync(join(dir, "bad.png"), "plain text");
      const error = await rejectsWith(loadImageFile(join(dir, "bad.png"), LIMITS, "file"), "notAnImage");
      assert.equal(error.details["source"], join(dir, "bad.png"));
      await rejectsWith(loadImageFile(join(dir, "a.png"), { maxPixels: 47 }, "file"), "pixelLimit");
    });

    it("says what msg.payload held when it is no image", async function () {
      const error = await rejectsWith(loadImageBytes(42, LIMITS, "msg.payload"), "noImageInput");
      assert.deepEqual(error.details, { source: "msg.payload", type: "number" });
      const image = await loadImageBytes(`data:image/png;base64,${png.toString("base64")}`, LIMITS, "msg.payload");
      assert.ok(image.buffer.equals(png));
      assert.equal(image.source, "payload");
    });
  });

  describe("folders", function () {
    it("lists matching files sorted by name, without subfolders", async function () {
      for (const name of ["c.png", "a.png", "b.txt"]) writeFileSync(join(dir, name), png);
      mkdirSync(join(dir, "sub.png"));
      assert.deepEqual(await listFolderFiles(dir, compileFilePattern("*.png")), [join(dir, "a.png"), join(dir, "c.png")]);
    });

    it("reports a missing folder and a file given as folder", async function () {
      await rejectsWith(listFolderFiles(join(dir, "none"), compileFilePattern("")), "folderNotFound");
      writeFileSync(join(dir, "file.png"), png);
      const error = await rejectsWith(
        watchFolder(join(dir, "file.png"), {
          match: compileFilePattern(""),
          emitExisting: false,
          stableMs: STABLE_MS,
          onFile: () => undefined,
          onError: () => undefined,
        }),
        "folderNotFound",
      );
      assert.equal(error.details["reason"], "ENOTDIR");
    });

    it("reports a new file once it is completely written, and nothing after close", async function () {
      writeFileSync(join(dir, "old.png"), png);
      const seen: string[] = [];
      let arrived: (path: string) => void = () => undefined;
      const first = new Promise<string>((resolve) => (arrived = resolve));
      const watch = await watchFolder(dir, {
        match: compileFilePattern("*.png"),
        emitExisting: false,
        stableMs: STABLE_MS,
        onFile: (path) => {
          seen.push(path);
          arrived(path);
        },
        onError: (error) => assert.fail(error.message),
      });
      try {
        writeFileSync(join(dir, "new.png"), png.subarray(0, 10));
        await delay(STABLE_MS / 2);
        writeFileSync(join(dir, "new.png"), png);
        writeFileSync(join(dir, "skip.txt"), "x");
        assert.equal(await waitFor(first, 4000, "the new file event"), join(dir, "new.png"));
      } finally {
        await watch.close();
      }
      writeFileSync(join(dir, "late.png"), png);
      await delay(STABLE_MS * 2);
      assert.deepEqual(seen, [join(dir, "new.png")]);
    });
  });

  describe("snapshots", function () {
    let server: TestServer | undefined;
    afterEach(async function () {
      await server?.close();
      server = undefined;
    });

    it("downloads the body and sends credentials from the URL as basic auth", async function () {
      let authorization: string | undefined;
      server = await startHttpServer((req, res) => {
        authorization = req.headers.authorization;
        res.end(png);
      });
      const url = server.url("/snap.jpg").replace("http://", "http://user%40x:p%3Ass@");
      const body = await fetchSnapshot({ url, timeoutMs: 2000, maxBytes: 1_000_000 });
      assert.ok(body.equals(png));
      assert.equal(authorization, `Basic ${Buffer.from("user@x:p:ss").toString("base64")}`);
    });

    describe("credentials, redirects and allowed hosts", function () {
      let other: TestServer | undefined;
      afterEach(async function () {
        await other?.close();
        other = undefined;
      });
      const auth = { user: "op", password: "secret" };
      const basic = `Basic ${Buffer.from("op:secret").toString("base64")}`;

      /** Two servers on two ports of 127.0.0.1: two origins. `seen` collects path -> Authorization. */
      async function twoOrigins(): Promise<{ a: TestServer; b: TestServer; seen: Array<[string, string | undefined]> }> {
        const seen: Array<[string, string | undefined]> = [];
        const b = await startHttpServer((req, res) => {
          seen.push([`b${req.url}`, req.headers.authorization]);
          res.end(png);
        });
        other = b;
        const a = await startHttpServer((req, res) => {
          seen.push([`a${req.url}`, req.headers.authorization]);
          if (req.url === "/away") res.writeHead(302, { location: b.url("/img") }).end();
          else if (req.url === "/here") res.writeHead(307, { location: "/img" }).end();
          else if (req.url === "/loop") res.writeHead(302, { location: "/loop" }).end();
          else res.end(png);
        });
        server = a;
        return { a, b, seen };
      }

      it("sends the configured URL's credentials to its own origin, never across a redirect to another", async function () {
        const { a, seen } = await twoOrigins();
        assert.ok((await fetchSnapshot({ url: a.url("/here"), timeoutMs: 2000, maxBytes: 1_000_000, auth })).equals(png));
        assert.ok((await fetchSnapshot({ url: a.url("/away"), timeoutMs: 2000, maxBytes: 1_000_000, auth })).equals(png));
        assert.deepEqual(seen, [
          ["a/here", basic],
          ["a/img", basic],
          ["a/away", basic],
          ["b/img", undefined],
        ]);
      });

      it("sends credentials to a URL a message chose only on the allowed hosts", async function () {
        const { a, b, seen } = await twoOrigins();
        const host = new URL(a.url("/")).host;
        // No list: fetched, without credentials.
        await fetchSnapshot({ url: a.url("/img"), timeoutMs: 2000, maxBytes: 1_000_000, auth, credentialsFor: [] });
        // Listed: with them; a redirect to another host is refused before anything is sent there.
        await fetchSnapshot({ url: a.url("/img"), timeoutMs: 2000, maxBytes: 1_000_000, auth, credentialsFor: [host], allowedHosts: [host] });
        const away = await rejectsWith(
          fetchSnapshot({ url: a.url("/away"), timeoutMs: 2000, maxBytes: 1_000_000, auth, credentialsFor: [host], allowedHosts: [host] }),
          "urlNotAllowed",
        );
        assert.equal(away.message, `${b.url("/img")} is not on the node's allowed hosts (${host})`);
        await rejectsWith(
          fetchSnapshot({ url: b.url("/img"), timeoutMs: 2000, maxBytes: 1_000_000, auth, credentialsFor: [host], allowedHosts: [host] }),
          "urlNotAllowed",
        );
        assert.deepEqual(seen, [
          ["a/img", undefined],
          ["a/img", basic],
          ["a/away", basic],
        ]);
      });

      it("stops after a few redirects", async function () {
        const { a } = await twoOrigins();
        const error = await rejectsWith(fetchSnapshot({ url: a.url("/loop"), timeoutMs: 2000, maxBytes: 1000 }), "fetchFailed");
        assert.equal(error.details["reason"], "too many redirects");
      });
    });

    it("keeps credentials out of URLs it reports", function () {
      assert.equal(redactUrl(parseSnapshotUrl("https://me:secret@cam.local/snap.jpg")), "https://cam.local/snap.jpg");
      throwsWith(() => parseSnapshotUrl("file:///etc/passwd"), "invalidOption");
      throwsWith(() => parseSnapshotUrl("not a url"), "invalidOption");
    });

    it("maps HTTP errors, size limits, refusals and timeouts to their codes", async function () {
      server = await startHttpServer((req, res) => {
        if (req.url === "/404") res.writeHead(404, "Not Found").end();
        else if (req.url === "/chunked") {
          res.write(png.subarray(0, 50));
          res.end(png.subarray(50));
        } else if (req.url === "/big") res.end(png);
        // "/hang" never answers
      });
      const request = { timeoutMs: 2000, maxBytes: 100 };
      assert.ok(png.length > 2 * request.maxBytes, "the test image is above the limit");
      const status = await rejectsWith(fetchSnapshot({ ...request, url: server.url("/404") }), "fetchStatus");
      assert.deepEqual(status.details, { url: server.url("/404"), status: 404, statusText: "Not Found" });
      const declared = await rejectsWith(fetchSnapshot({ ...request, url: server.url("/big") }), "fetchTooLarge");
      assert.equal(declared.details["size"], png.length);
      await rejectsWith(fetchSnapshot({ ...request, url: server.url("/chunked") }), "fetchTooLarge");
      const timeout = await rejectsWith(fetchSnapshot({ ...request, timeoutMs: 150, url: server.url("/hang") }), "fetchTimeout");
      assert.equal(timeout.details["timeoutMs"], 150);

      const gone = await closedPortUrl("/x");
      const refused = await rejectsWith(fetchSnapshot({ ...request, url: gone }), "fetchFailed");
      assert.equal(refused.details["reason"], "ECONNREFUSED");
    });

    it("stops when the caller aborts", async function () {
      server = await startHttpServer(() => undefined);
      const stop = new AbortController();
      const pending = fetchSnapshot({ url: server.url("/hang"), timeoutMs: 60_000, maxBytes: 1000, signal: stop.signal });
      setTimeout(() => stop.abort(), 50);
      const error = await rejectsWith(waitFor(pending, 2000, "the abort"), "fetchFailed");
      assert.equal(error.details["reason"], "aborted");
    });
  });
});
