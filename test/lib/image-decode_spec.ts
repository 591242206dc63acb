import { strict as assert } from "node:assert";
import { DefectError } from "../../src/lib/errors";
import { DEFAULT_MAX_PIXELS, decodeImage, probeImage } from "../../src/lib/image/decode";
import { toImageBuffer } from "../../src/lib/image/input";
import type { RawImage } from "../../src/lib/image/types";
import { encodeJpeg, encodePng, encodeTiff, encodeWebp, makeImage, noiseImage, pixelAt, tinyBmp } from "../fixtures/images";

const limits = { maxPixels: DEFAULT_MAX_PIXELS };
/** JPEG at quality 100, 4:4:4: uniform blocks come back within this many levels. */
const JPEG_TOLERANCE = 3;

async function rejects(promise: Promise<unknown>, code: string): Promise<DefectError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DefectError, `expected DefectError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a ${code} rejection`);
}

const rgb = makeImage(5, 3, 3, (x, y, c) => x * 40 + y * 7 + c * 3);

describe("image decode", () => {
  describe("probeImage", () => {
    it("reads format, size, channels, depth and orientation from the header", async () => {
      assert.deepEqual(await probeImage(await encodePng(rgb), limits), {
        format: "png",
        width: 5,
        height: 3,
        channels: 3,
        bitDepth: 8,
        orientation: 1,
      });
    });

    it("reports 16-bit gray images", async () => {
      const gray16 = makeImage(4, 2, 1, (x, y) => x * 10000 + y, 16);
      assert.deepEqual(await probeImage(await encodePng(gray16), limits), {
        format: "png",
        width: 4,
        height: 2,
        channels: 1,
        bitDepth: 16,
        orientation: 1,
      });
    });

    it("reports the displayed size of a 90-degree EXIF orientation", async () => {
      const info = await probeImage(await encodeJpeg(rgb, 6), limits);
      assert.deepEqual([info.format, info.width, info.height, info.orientation], ["jpeg", 3, 5, 6]);
    });

    it("rejects images above the pixel limit with their sizes", async () => {
      const png = await encodePng(makeImage(100, 50, 1, () => 0));
      const err = await rejects(probeImage(png, { maxPixels: 4999 }), "pixelLimit");
      assert.deepEqual(err.details, { width: 100, height: 50, pixels: 5000, maxPixels: 4999 });
      assert.equal((await probeImage(png, { maxPixels: 5000 })).width, 100);
    });

    it("rejects bytes that are not an image", async () => {
      const err = await rejects(probeImage(Buffer.from("just some text, not pixels"), limits), "notAnImage");
      assert.equal(err.details["bytes"], 26);
      await rejects(probeImage(Buffer.alloc(0), limits), "notAnImage");
      // A string would be a file path to sharp; it must never be read as one.
      await rejects(probeImage(__filename as unknown as Buffer, limits), "notAnImage");
    });

    it("names a known format sharp cannot read (BMP)", async () => {
      const err = await rejects(probeImage(tinyBmp(), limits), "unsupportedFormat");
      assert.equal(err.details["format"], "BMP");
    });

    it("refuses SVG unless it is allowed, then reads it as any image", async () => {
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="12" height="8"><rect width="12" height="8" fill="red"/></svg>');
      const err = await rejects(probeImage(svg, limits), "unsupportedFormat");
      assert.deepEqual(err.details, { format: "svg" });
      assert.match(err.message, /allowSvg/);
      const info = await probeImage(svg, { ...limits, allowSvg: true });
      assert.deepEqual([info.format, info.width, info.height], ["svg", 12, 8]);
    });

    it("calls a PNG whose header is cut off corrupt", async () => {
      const png = await encodePng(rgb);
      await rejects(probeImage(png.subarray(0, 12), limits), "corruptImage");
    });

    it("rejects a limit that is not a positive whole number", async () => {
      const err = await rejects(probeImage(await encodePng(rgb), { maxPixels: 0 }), "invalidOption");
      assert.equal(err.details["option"], "maxPixels");
    });
  });

  describe("decodeImage", () => {
    const cases: Array<[string, RawImage]> = [
      ["gray", makeImage(5, 3, 1, (x, y) => x * 50 + y)],
      ["gray+alpha", makeImage(5, 3, 2, (x, y, c) => (c === 0 ? x * 50 + y : 255 - x * 10))],
      ["RGB", rgb],
      ["RGBA", makeImage(5, 3, 4, (x, y, c) => (c === 3 ? 100 + x : x * 40 + y * 7 + c * 3))],
      ["16-bit gray", makeImage(5, 3, 1, (x, y) => x * 13000 + y * 101, 16)],
      ["16-bit RGB", makeImage(5, 3, 3, (x, y, c) => x * 13000 + y * 101 + c * 7, 16)],
    ];
    for (const [name, image] of cases) {
      it(`decodes a ${name} PNG exactly`, async () => {
        const decoded = await decodeImage(await encodePng(image), limits);
        assert.deepEqual(decoded, image);
      });
    }

    it("keeps 16-bit pixels in a Uint16Array", async () => {
      const decoded = await decodeImage(await encodePng(makeImage(2, 1, 1, (x) => (x ? 65535 : 1), 16)), limits);
      assert.ok(decoded.data instanceof Uint16Array);
      assert.deepEqual(Array.from(decoded.data), [1, 65535]);
    });

    it("decodes lossless TIFF and WebP exactly", async () => {
      assert.deepEqual(await decodeImage(await encodeTiff(rgb), limits), rgb);
      assert.deepEqual(await decodeImage(await encodeWebp(rgb), limits), rgb);
    });

    it("decodes a JPEG of uniform blocks to within a few levels", async () => {
      const blocks = makeImage(16, 8, 3, (x, _y, c) => (x < 8 ? [200, 40, 90][c]! : [10, 220, 130][c]!));
      const decoded = await decodeImage(await encodeJpeg(blocks), limits);
      assert.deepEqual([decoded.width, decoded.height, decoded.channels, decoded.bitDepth], [16, 8, 3, 8]);
      for (const [x, expected] of [
        [2, [200, 40, 90]],
        [13, [10, 220, 130]],
      ] as const) {
        pixelAt(decoded, x, 4).forEach((v, c) => assert.ok(Math.abs(v - expected[c]!) <= JPEG_TOLERANCE, `x=${x} c=${c}: ${v}`));
      }
    });

    // Stored 5x3 with one red pixel at (1, 0); where EXIF orientation o displays it.
    const displayed: Record<number, [number, number, number, number]> = {
      1: [5, 3, 1, 0],
      2: [5, 3, 3, 0],
      3: [5, 3, 3, 2],
      4: [5, 3, 1, 2],
      5: [3, 5, 0, 1],
      6: [3, 5, 2, 1],
      7: [3, 5, 2, 3],
      8: [3, 5, 0, 3],
    };
    const marked = makeImage(5, 3, 3, (x, y, c) => (x === 1 && y === 0 ? [255, 0, 0][c]! : [0, 0, 255][c]!));
    for (const [orientation, [width, height, mx, my]] of Object.entries(displayed)) {
      it(`applies EXIF orientation ${orientation}`, async () => {
        const decoded = await decodeImage(await encodePng(marked, Number(orientation)), limits);
        assert.deepEqual([decoded.width, decoded.height], [width, height]);
        const red: string[] = [];
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) if (pixelAt(decoded, x, y)[0] === 255) red.push(`${x},${y}`);
        }
        assert.deepEqual(red, [`${mx},${my}`]);
      });
    }

    it("applies EXIF orientation to JPEG", async () => {
      // 2x2 white block at the stored top-left; orientation 6 (90 degrees clockwise) shows it top-right.
      const block = makeImage(8, 4, 3, (x, y) => (x < 2 && y < 2 ? 255 : 0));
      const decoded = await decodeImage(await encodeJpeg(block, 6), limits);
      assert.deepEqual([decoded.width, decoded.height], [4, 8]);
      assert.ok(pixelAt(decoded, 3, 0)[0]! > 250 && pixelAt(decoded, 0, 0)[0]! < 5);
    });

    it("rejects images above the pixel limit before decoding", async () => {
      const err = await rejects(decodeImage(await encodeJpeg(noiseImage(64, 64)), { maxPixels: 4095 }), "pixelLimit");
      assert.deepEqual(err.details, { width: 64, height: 64, pixels: 4096, maxPixels: 4095 });
    });

    it("rejects a truncated JPEG and a truncated PNG", async () => {
      const noise = noiseImage(64, 64);
      for (const encoded of [await encodeJpeg(noise), await encodePng(noise)]) {
        const cut = encoded.subarray(0, Math.floor(encoded.length / 2));
        // The header survives, so probing still works; the pixels do not.
        assert.equal((await probeImage(cut, limits)).width, 64);
        await rejects(decodeImage(cut, limits), "corruptImage");
      }
    });

    it("rejects non-image bytes", async () => {
      await rejects(decodeImage(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), limits), "notAnImage");
    });
  });

  describe("toImageBuffer", () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

    it("passes Buffers through and wraps typed arrays without copying", () => {
      assert.equal(toImageBuffer(bytes), bytes);
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
      const wrapped = toImageBuffer(view)!;
      assert.deepEqual([...wrapped], [...bytes]);
      assert.equal(wrapped.buffer, bytes.buffer);
    });

    it("decodes base64 text and data: URLs", () => {
      assert.deepEqual(toImageBuffer(bytes.toString("base64")), bytes);
      assert.deepEqual(toImageBuffer(`data:image/png;base64,${bytes.toString("base64")}`), bytes);
      assert.deepEqual(toImageBuffer("data:image/svg+xml,%3Csvg%2F%3E"), Buffer.from("<svg/>"));
    });

    it("accepts a Buffer that went through JSON", () => {
      assert.deepEqual(toImageBuffer(JSON.parse(JSON.stringify(bytes))), bytes);
    });

    it("returns undefined for anything else", () => {
      for (const value of [undefined, null, 42, "", "not base64!", "/tmp/image.png", {}, [1, 2], Buffer.alloc(0)]) {
        assert.equal(toImageBuffer(value), undefined, String(value));
      }
    });

    it("yields bytes that decode as the image", async () => {
      const png = await encodePng(rgb);
      assert.deepEqual(await decodeImage(toImageBuffer(`data:image/png;base64,${png.toString("base64")}`)!, limits), rgb);
    });
  });
});
