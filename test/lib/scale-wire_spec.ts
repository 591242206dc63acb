/**
 * The scale-out wire format: a part is its image bytes plus MQTT v5 user properties and comes
 * back the same; a result is JSON with its record; another format or version, a part without
 * id or bytes, and a result without record are refused with the codes a Catch node sees.
 */
import assert from "node:assert/strict";
import { isDefectError } from "../../src/lib/errors";
import type { ResultRecord } from "../../src/lib/message";
import { contentTypeOf, decodePart, decodeResult, encodePart, encodeResult, looksLikePart, type WirePart } from "../../src/lib/scale";

const image = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
const part: WirePart = { partId: "A-17", image, recipe: "R2", jobId: null, captured: "2026-01-02T03:04:05.000Z", attempt: 1, contentType: "image/png" };
const record = { id: 4, station: "t1", partId: "A-17", verdict: "NG", score: 0.8, regions: [] } as unknown as ResultRecord;

function refused(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isDefectError(error), String(error));
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  });
}

describe("scale-out wire format", function () {
  it("sends a part's image bytes unchanged as the payload and its ids as user properties", function () {
    const fields = encodePart(part);
    assert.equal(fields.payload, image, "the same Buffer: no base64, no copy");
    assert.equal(fields.contentType, "image/png");
    assert.deepEqual(fields.userProperties, {
      "dd-format": "defect-part/1",
      "dd-part": "A-17",
      "dd-captured": "2026-01-02T03:04:05.000Z",
      "dd-attempt": "1",
      "dd-recipe": "R2",
    });
    assert.ok(looksLikePart(fields.userProperties));
    assert.equal(looksLikePart({ "dd-format": "defect-result/1" }), false);
    assert.deepEqual(decodePart(fields.payload, fields.contentType, fields.userProperties), part);
  });

  it("names content types from the image format and falls back to octet-stream", function () {
    assert.equal(contentTypeOf("jpeg"), "image/jpeg");
    assert.equal(contentTypeOf("PNG"), "image/png");
    assert.equal(contentTypeOf(undefined), "application/octet-stream");
    assert.equal(contentTypeOf("svg"), "application/octet-stream");
  });

  it("refuses parts of another format or version, without id, or without bytes", function () {
    const props = encodePart(part).userProperties;
    refused(() => decodePart(image, "image/png", undefined), "wireFormatInvalid", /MQTT v5/);
    refused(() => decodePart(image, "image/png", { ...props, "dd-format": "other/1" }), "wireFormatInvalid");
    refused(() => decodePart(image, "image/png", { ...props, "dd-format": "defect-part/2" }), "wireVersion", /version 2/);
    refused(() => decodePart(image, "image/png", { ...props, "dd-part": "" }), "wireFormatInvalid", /dd-part/);
    refused(() => decodePart("iVBORw0KGgo=", "image/png", props), "wireFormatInvalid", /Buffer/);
    refused(() => decodePart(Buffer.alloc(0), "image/png", props), "wireFormatInvalid", /Buffer/);
  });

  it("sends a result as JSON with its record and reads it back from text, a Buffer or a parsed object", function () {
    const fields = encodeResult({ partId: "A-17", attempt: 2, worker: "w1", record });
    assert.equal(fields.contentType, "application/json");
    assert.deepEqual(fields.userProperties, { "dd-format": "defect-result/1", "dd-part": "A-17" });
    const text = fields.payload as string;
    const expected = { format: "defect-result", version: 1, partId: "A-17", attempt: 2, worker: "w1", record };
    assert.deepEqual(decodeResult(text), expected);
    assert.deepEqual(decodeResult(Buffer.from(text)), expected);
    assert.deepEqual(decodeResult(JSON.parse(text)), expected);
  });

  it("refuses results that are no JSON, of another version, without part id or record", function () {
    const body = { format: "defect-result", version: 1, partId: "A", attempt: 1, worker: "w", record };
    refused(() => decodeResult("{not json"), "wireFormatInvalid", /not JSON/);
    refused(() => decodeResult(42), "wireFormatInvalid");
    refused(() => decodeResult("[1,2]"), "wireFormatInvalid");
    refused(() => decodeResult({ ...body, version: 7 }), "wireVersion", /version 7/);
    refused(() => decodeResult({ ...body, format: "defect-part" }), "wireFormatInvalid");
    refused(() => decodeResult({ ...body, partId: "" }), "wireFormatInvalid", /partId/);
    refused(() => decodeResult({ ...body, record: { score: 1 } }), "wireFormatInvalid", /record/);
  });
});
