import { strict as assert } from "node:assert";
import { DefectError } from "../../src/lib/errors";
import { DEFAULT_PREPROCESS_OPTIONS, PRESETS, parsePreprocessOptions } from "../../src/lib/image/options";

function rejects(input: Record<string, unknown>, option: string, allowed: RegExp): void {
  assert.throws(
    () => parsePreprocessOptions(input),
    (err: unknown) => {
      assert.ok(err instanceof DefectError, String(err));
      assert.equal(err.code, "invalidOption");
      assert.equal(err.details["option"], option);
      assert.ok(err.message.includes(`"${option}"`), err.message);
      assert.match(err.message, allowed);
      return true;
    },
    `${JSON.stringify(input)} should be rejected`,
  );
}

describe("image options", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(DEFAULT_PREPROCESS_OPTIONS, {
      width: 256,
      height: 256,
      resize: "stretch",
      kernel: "linear",
      padValue: 114,
      roi: null,
      color: "rgb",
      layout: "NCHW",
      scale: 1,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    });
    assert.deepEqual(parsePreprocessOptions({}), DEFAULT_PREPROCESS_OPTIONS);
  });

  it("parses the strings an editor sends", () => {
    assert.deepEqual(
      parsePreprocessOptions({
        width: "224",
        height: " 160 ",
        resize: "letterbox",
        kernel: "nearest",
        padValue: "0",
        roi: "10,20,30,40",
        color: "bgr",
        layout: "NHWC",
        scale: "255",
        mean: "0.485,0.456,0.406",
        std: "0.229, 0.224, 0.225",
      }),
      {
        width: 224,
        height: 160,
        resize: "letterbox",
        kernel: "nearest",
        padValue: 0,
        roi: { x: 10, y: 20, width: 30, height: 40 },
        color: "bgr",
        layout: "NHWC",
        scale: 255,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
    );
  });

  it("keeps the base value for empty fields and ignores unknown keys", () => {
    const base = { ...DEFAULT_PREPROCESS_OPTIONS, width: 64, mean: [0.1, 0.2, 0.3] };
    const o = parsePreprocessOptions({ width: "", mean: "", height: undefined, colour: "gray", name: "x" }, base);
    assert.deepEqual(o, base);
  });

  it("accepts an roi object with string fields and clears it with an empty string", () => {
    const withRoi = parsePreprocessOptions({ roi: { x: "1", y: 2, width: "3", height: 4 } });
    assert.deepEqual(withRoi.roi, { x: 1, y: 2, width: 3, height: 4 });
    assert.deepEqual(parsePreprocessOptions({ roi: [5, 6, 7, 8] }).roi, { x: 5, y: 6, width: 7, height: 8 });
    assert.equal(parsePreprocessOptions({ roi: "" }, withRoi).roi, null);
    assert.equal(parsePreprocessOptions({ roi: null }, withRoi).roi, null);
    assert.deepEqual(parsePreprocessOptions({}, withRoi).roi, { x: 1, y: 2, width: 3, height: 4 });
  });

  it("applies presets, which explicit fields override", () => {
    const imagenet = parsePreprocessOptions({ preset: "imagenet" });
    assert.deepEqual(
      [imagenet.mean, imagenet.std],
      [
        [0.485, 0.456, 0.406],
        [0.229, 0.224, 0.225],
      ],
    );
    assert.deepEqual(PRESETS.yolo, {
      width: 640,
      height: 640,
      resize: "letterbox",
      padValue: 114,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    });
    const yolo = parsePreprocessOptions({ preset: "yolo", width: "320", padValue: 0 }, { ...imagenet, width: 100 });
    assert.deepEqual([yolo.width, yolo.height, yolo.resize, yolo.padValue, yolo.mean, yolo.std], [320, 640, "letterbox", 0, [0, 0, 0], [1, 1, 1]]);
    assert.deepEqual(parsePreprocessOptions({ preset: "none" }), DEFAULT_PREPROCESS_OPTIONS);
    assert.deepEqual(parsePreprocessOptions({ preset: "" }), DEFAULT_PREPROCESS_OPTIONS);
  });

  it("broadcasts a single mean or std value and fits equal values to gray", () => {
    assert.deepEqual(parsePreprocessOptions({ mean: "0.5", std: 0.25 }).mean, [0.5, 0.5, 0.5]);
    assert.deepEqual(parsePreprocessOptions({ mean: "0.5", std: 0.25 }).std, [0.25, 0.25, 0.25]);
    const gray = parsePreprocessOptions({ color: "gray" });
    assert.deepEqual([gray.mean, gray.std], [[0], [1]]);
    assert.deepEqual(parsePreprocessOptions({ color: "gray", mean: [0.45] }).mean, [0.45]);
  });

  it("returns fresh arrays, leaving the defaults untouched", () => {
    const o = parsePreprocessOptions({});
    o.mean[0] = 9;
    assert.deepEqual(DEFAULT_PREPROCESS_OPTIONS.mean, [0, 0, 0]);
  });

  describe("rejects invalid values, naming the option and what is allowed", () => {
    const sizes = /integer from 1 to 8192/;
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ width: "0" }, "width", sizes],
      [{ width: 8193 }, "width", sizes],
      [{ width: "12.5" }, "width", sizes],
      [{ width: "abc" }, "width", sizes],
      [{ height: -3 }, "height", sizes],
      [{ resize: "fit" }, "resize", /stretch, letterbox, center-crop/],
      [{ kernel: "bicubic" }, "kernel", /nearest, linear, cubic, lanczos3/],
      [{ color: "hsv" }, "color", /rgb, bgr, gray/],
      [{ layout: "CHW" }, "layout", /NCHW, NHWC/],
      [{ padValue: 256 }, "padValue", /0 to 255/],
      [{ padValue: "-1" }, "padValue", /0 to 255/],
      [{ scale: 0 }, "scale", /above 0/],
      [{ scale: "Infinity" }, "scale", /above 0/],
      [{ mean: "a,b,c" }, "mean", /numbers/],
      [{ mean: "0.1,0.2" }, "mean", /1 or 3 values/],
      [{ std: "0.2,0,0.2" }, "std", /above 0/],
      [{ preset: "imagenet", color: "gray" }, "mean", /1 value.*gray/],
      [{ roi: "1,2,3" }, "roi", /x,y,width,height/],
      [{ roi: "-1,0,5,5" }, "roi", /whole pixels/],
      [{ roi: { x: 0, y: 0, width: 0, height: 5 } }, "roi", /at least 1/],
      [{ roi: 5 }, "roi", /x,y,width,height/],
      [{ preset: "coco" }, "preset", /imagenet, yolo, none/],
    ];
    for (const [input, option, allowed] of cases) {
      it(`${option} = ${JSON.stringify(Object.values(input).at(-1))}`, () => rejects(input, option, allowed));
    }
  });
});
