import { strict as assert } from "node:assert";
import { isDefectError } from "../../src/lib/errors";
import { parseJsonNames, parseNameList, parseNamesText, parsePythonNames, readNamesFile, resolveClassNames } from "../../src/lib/supervised/names";
import { parseImageSize } from "../../src/lib/supervised/family-preprocess";
import { tempModelDir } from "../fixtures/supervised-models";

function invalidNames(message: string | RegExp) {
  return (e: unknown): boolean => {
    assert.ok(isDefectError(e), `expected a DefectError, got ${String(e)}`);
    assert.equal(e.code, "classNamesInvalid");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  };
}

describe("supervised: class names", () => {
  describe("Ultralytics metadata (Python dict literal)", () => {
    it("reads int keys with single- and double-quoted names, as str(dict) writes them", () => {
      assert.deepEqual(parsePythonNames(`{0: 'scratch', 1: "dent's", 2: 'oil spot'}`), ["scratch", "dent's", "oil spot"]);
    });

    it("decodes escapes: quotes, backslash, \\n, \\t, \\x, \\u, \\U, octal; keeps unknown escapes as written", () => {
      const text = String.raw`{0: 'it\'s', 1: "say \"hi\"", 2: 'back\\slash', 3: 'a\nb\tc', 4: '\x41\u00e9\U0001F600', 5: '\101', 6: '\d'}`;
      assert.deepEqual(parsePythonNames(text), ["it's", 'say "hi"', "back\\slash", "a\nb\tc", "Aé😀", "A", "\\d"]);
    });

    it("keeps non-ASCII names written literally (Python 3 repr) and spaces inside names", () => {
      assert.deepEqual(parsePythonNames("{0: 'Kratzer außen', 1: '裂纹', 2: '  padded  '}"), ["Kratzer außen", "裂纹", "  padded  "]);
    });

    it("tolerates any whitespace, a trailing comma and keys out of order; gaps get default names", () => {
      assert.deepEqual(parsePythonNames("{\n  2 : 'c' ,\n  0:'a',\n}"), ["a", "class 1", "c"]);
      assert.deepEqual(parsePythonNames("{}"), []);
    });

    it("also reads a list literal and quoted-number keys", () => {
      assert.deepEqual(parsePythonNames(`['a', "b"]`), ["a", "b"]);
      assert.deepEqual(parsePythonNames(`{'0': 'a', "1": 'b'}`), ["a", "b"]);
    });

    it("rejects malformed text with the position and what was expected", () => {
      assert.throws(
        () => parsePythonNames("{0: 'scratch"),
        invalidNames(
          `class names from ONNX metadata "names" cannot be read: expected a closing ' for the string starting here at character 5, found "'scratch"`,
        ),
      );
      assert.throws(() => parsePythonNames("{0 'a'}"), invalidNames(/expected ":" at character 4, found "'a'}"/));
      assert.throws(() => parsePythonNames("{a: 'x'}"), invalidNames(/expected a quoted string or a whole number at character 2/));
      assert.throws(() => parsePythonNames("{-1: 'x'}"), invalidNames(/expected a class index \(a whole number from 0\)/));
      assert.throws(() => parsePythonNames("{0: 'a'} junk"), invalidNames(/expected the end of the text at character 10, found "junk"/));
      assert.throws(() => parsePythonNames("{0: 'a' 1: 'b'}"), invalidNames(/expected "," or "}" at character 9/));
      assert.throws(() => parsePythonNames("scratch, dent"), invalidNames(/expected a dict \{0: 'name', \.\.\.\} or a list/));
      assert.throws(() => parsePythonNames("{0: 'a', 0: 'b'}"), invalidNames(/give class 0 twice/));
      assert.throws(() => parsePythonNames("{0: 5}"), invalidNames(/must be strings, but class 0 is 5/));
      assert.throws(() => parsePythonNames("{999999999: 'x'}"), invalidNames(/above the limit of 100000/));
      assert.throws(() => parsePythonNames(String.raw`{0: '\x4'}`), invalidNames(/expected 2 hex digits after \\x/));
    });

    it("never evaluates code", () => {
      assert.throws(() => parsePythonNames("{0: __import__('os').system('echo hi')}"), invalidNames(/expected a quoted string/));
    });
  });

  describe("sidecar files", () => {
    it("parses a JSON array, a JSON object with index keys, a Python dict copy and one name a line", () => {
      assert.deepEqual(parseNamesText('["a", "b c"]', "f.json", ".json"), ["a", "b c"]);
      assert.deepEqual(parseNamesText('{"1": "b", "0": "a"}', "f.json", ".json"), ["a", "b"]);
      assert.deepEqual(parseNamesText("{0: 'a', 1: 'b'}", "f.txt", ".txt"), ["a", "b"]);
      assert.deepEqual(parseNamesText("\uFEFFscratch\r\n  dent  \n\noil spot\n", "f.txt", ".txt"), ["scratch", "dent", "oil spot"]);
    });

    it("rejects bad JSON, non-string names and YAML with clear messages", () => {
      assert.throws(() => parseJsonNames('{"a": "x"}', "n.json"), invalidNames(`class names from n.json must have class indexes as keys, but one key is "a"`));
      assert.throws(() => parseNamesText("[1, 2]", "n.json", ".json"), invalidNames("class names from n.json must be strings, but item 0 is 1"));
      assert.throws(() => parseNamesText('"a"', "n.json", ".json"), invalidNames(/must be a JSON array of names or an object/));
      assert.throws(() => parseNamesText('["a",', "n.json", ".json"), invalidNames(/are not valid JSON/));
      assert.throws(() => parseNamesText("names:\n  0: a", "data.yaml", ".yaml"), invalidNames(/are in YAML, which is not read/));
    });

    it("reads files from disk and reports a missing or empty file", async () => {
      const tmp = await tempModelDir();
      try {
        assert.deepEqual(await readNamesFile(await tmp.write("names.json", '["ok","défaut"]')), ["ok", "défaut"]);
        assert.deepEqual(await readNamesFile(await tmp.write("names.txt", "ok\nscratch\n")), ["ok", "scratch"]);
        const missing = `${tmp.dir}/nope.txt`;
        await assert.rejects(
          readNamesFile(missing),
          (e: unknown) => isDefectError(e) && e.code === "fileNotFound" && e.message === `class names file not found: ${missing}`,
        );
        await assert.rejects(readNamesFile(await tmp.write("empty.txt", "\n\n")), invalidNames(/are empty: the file names no class/));
      } finally {
        await tmp.remove();
      }
    });
  });

  describe("editor list", () => {
    it("splits on commas and trims; empty means not set", () => {
      assert.deepEqual(parseNameList(" scratch, dent ,crack,"), ["scratch", "dent", "crack"]);
      assert.deepEqual(parseNameList("   "), []);
    });

    it("rejects an empty name between commas", () => {
      assert.throws(() => parseNameList("a,,b"), invalidNames(`class names from the class names field have an empty name at position 2 ("a,,b")`));
    });
  });

  describe("precedence", () => {
    const metadata = ["m0", "m1", "m2"];
    const file = ["f0", "f1", "f2"];
    const editor = ["e0", "e1", "e2"];

    it("editor > file > metadata > class N", () => {
      assert.deepEqual(resolveClassNames({ editor, file, metadata }, 3), { names: editor, source: "editor", warnings: [] });
      assert.deepEqual(resolveClassNames({ file, metadata }, 3), { names: file, source: "file", warnings: [] });
      assert.deepEqual(resolveClassNames({ editor: [], metadata }, 3), { names: metadata, source: "metadata", warnings: [] });
      assert.deepEqual(resolveClassNames({}, 3), { names: ["class 0", "class 1", "class 2"], source: "default", warnings: [] });
    });

    it("completes a short list and cuts a long one to the model's class count, with a warning", () => {
      const short = resolveClassNames({ editor: ["a"] }, 3);
      assert.deepEqual(short.names, ["a", "class 1", "class 2"]);
      assert.deepEqual(short.warnings, ["the editor class names list 1 names but the model has 3 classes"]);
      assert.deepEqual(resolveClassNames({ file: ["a", "b", "c", "d"] }, 2).names, ["a", "b"]);
      assert.deepEqual(resolveClassNames({ file: ["a", "b"] }, null), { names: ["a", "b"], source: "file", warnings: [] });
    });
  });

  it("reads the metadata imgsz as [h, w] or a single size", () => {
    assert.deepEqual(parseImageSize("[480, 640]"), { width: 640, height: 480 });
    assert.deepEqual(parseImageSize("320"), { width: 320, height: 320 });
    assert.equal(parseImageSize("[a]"), null);
    assert.equal(parseImageSize(undefined), null);
  });
});
