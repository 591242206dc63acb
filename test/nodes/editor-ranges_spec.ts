/**
 * The edit dialogs and the runtime must agree on what a valid setting is: a value the dialog
 * accepts must deploy, and a value the runtime refuses must get an inline message in the dialog
 * instead of a red status after deploy. Each node's real `defaults[*].validate` (run from its
 * .html) is compared with its runtime option readers on the same probe values, in each mode.
 */
import assert from "node:assert/strict";
import { parseAlarmOptions } from "../../src/lib/alarm";
import { parseArchiveOptions } from "../../src/lib/archive";
import { parseDetectorOptions } from "../../src/lib/detector";
import { parsePreprocessOptions } from "../../src/lib/image";
import { parseRecipeSettings } from "../../src/lib/recipes";
import { parsePlcOptions } from "../../src/lib/plc";
import { parseQueueOptions } from "../../src/lib/queue";
import { parseRegionOptions } from "../../src/lib/regions";
import { parseLedgerOptions, parseShareOptions, parseWireOptions } from "../../src/lib/scale";
import { parseSourceOptions } from "../../src/lib/source";
import { parseStationOptions } from "../../src/lib/station";
import { parseThresholdOptions } from "../../src/lib/threshold";
import { parseJoinViewsOptions } from "../../src/lib/views";
import { parseDecodeLimits } from "../../src/nodes/shared/settings";
import { catalogKeys } from "../fixtures/node-red";
import { defaultNode, editorVerdict, loadEditorDefinition, type EditorDefinition } from "../fixtures/editor-definitions";

type Config = Record<string, unknown>;

interface NodeCase {
  name: string;
  /** Throws when the runtime refuses the configuration at deploy. */
  runtime(config: Config): void;
  /** Settings that change which fields count (the dialog shows only those fields). */
  contexts: Config[];
  /**
   * Fields the dialog requires although the option reader accepts them empty, with the reason:
   * the runtime refuses them later, when it opens the file, so the dialog's check is earlier.
   */
  earlierInEditor?: Record<string, string>;
}

const NUMBERS = [
  "0",
  "1",
  "-1",
  "0.5",
  "0.99",
  "1.5",
  "2",
  "3",
  "15",
  "16",
  "99",
  "100",
  "100.5",
  "101",
  "255",
  "256",
  "4096",
  "4097",
  "8192",
  "8193",
  "10000",
  "10001",
  "65530",
  "65531",
  "65532",
  "65533",
  "65535",
  "65536",
  "100000",
  "100001",
  "86400",
  "86401",
  "1e9",
  "1e10",
  "abc",
  "1,2",
  " 7 ",
];
/** Detector Extra turns: degrees in [-360, 360], none empty, at most 36 of them. */
const TURNS = [
  "90",
  "-90",
  "45,90,135,180,225,270,315",
  "360,-360",
  "361",
  "-360.5",
  "45,,90",
  "90,",
  "1e2",
  "0x2D",
  "Infinity",
  Array.from({ length: 36 }, (_, i) => String(i * 10)).join(","),
  Array.from({ length: 37 }, (_, i) => String(i * 9)).join(","),
];
const TEXTS = [
  "",
  "x",
  "0.485,0.456,0.406",
  "0,0,10,10",
  "0,0,0,10",
  "stage2,stage3",
  "a,,b",
  "ns=1;s=Tag",
  "ns=1;i=5",
  "tag",
  "http://127.0.0.1/a.jpg",
  "ftp://x",
  ...TURNS,
];
const CHOICES = [
  "bogus",
  "file",
  "folder",
  "url",
  "payload",
  "imagenet",
  "yolo",
  "none",
  "stretch",
  "letterbox",
  "center-crop",
  "nearest",
  "linear",
  "cubic",
  "lanczos3",
  "rgb",
  "bgr",
  "gray",
  "NCHW",
  "NHWC",
  "unsupervised",
  "supervised",
  "patchcore",
  "padim",
  "anomalib",
  "onnx",
  "template",
  "auto",
  "classify",
  "detect",
  "segment",
  "semantic",
  "original",
  "model",
  "fixed",
  "sigma",
  "quantile",
  "f1",
  "recall",
  "4",
  "8",
  "jpeg",
  "png",
  "ng",
  "consecutive",
  "rate-count",
  "rate-time",
  "warning",
  "critical",
  "modbus",
  "opcua",
  "on",
  "off",
];
const PROBES = ["", ...NUMBERS, ...TEXTS.slice(1), ...CHOICES];

function accepts(runtime: (config: Config) => void, config: Config): boolean {
  try {
    runtime(config);
    return true;
  } catch {
    return false;
  }
}

const CASES: NodeCase[] = [
  {
    name: "image-source",
    runtime: (c) => {
      parseSourceOptions(c);
      parseDecodeLimits(c["maxPixels"]);
      parseQueueOptions(c);
    },
    contexts: [{ mode: "file" }, { mode: "folder", folder: "images" }, { mode: "url" }, { mode: "payload" }],
  },
  {
    name: "preprocess",
    runtime: (c) => {
      const { preset, width, height, resizeMode: resize, kernel, padValue, roi, color, layout, scale, mean, std } = c;
      const base = parsePreprocessOptions({ preset, width, height, resize, kernel, padValue, roi, color, layout, scale, mean, std });
      parseRecipeSettings(c["recipes"], "recipes", (settings) => parsePreprocessOptions(settings, base));
      parseDecodeLimits(c["maxPixels"]);
      parseQueueOptions(c);
    },
    contexts: [{ preset: "imagenet" }, { preset: "yolo" }, { preset: "none" }],
  },
  {
    name: "detector",
    runtime: (c) => {
      parseDetectorOptions(c);
      parseQueueOptions(c);
    },
    contexts: [
      { setting: "unsupervised", method: "patchcore" },
      { setting: "unsupervised", method: "padim" },
      { setting: "unsupervised", method: "anomalib", modelFile: "model.onnx" },
      { setting: "supervised", method: "onnx", modelFile: "model.onnx" },
      { setting: "unsupervised", method: "template" },
    ],
    earlierInEditor: {
      modelFile: "the anomalib and supervised methods need a model file: the runtime says modelNotFound when it opens it",
      backbone: "the learning methods need a backbone: the runtime names the missing file when it opens it",
    },
  },
  {
    name: "threshold",
    runtime: (c) => void parseThresholdOptions(c),
    contexts: [{ mode: "fixed" }, { mode: "sigma" }, { mode: "quantile" }, { mode: "quantile", bandFrom: "defects" }, { mode: "f1" }, { mode: "recall" }],
  },
  {
    name: "mask-to-region",
    runtime: (c) => void parseRegionOptions(c),
    contexts: [{ overlay: "jpeg" }, { overlay: "none" }],
  },
  {
    name: "alarm",
    runtime: (c) => {
      parseAlarmOptions(c);
      parseRecipeSettings(c["recipes"], "recipes", (settings) => parseAlarmOptions({ ...c, ...settings }));
      parsePlcOptions(c);
    },
    contexts: [
      { rule: "ng", protocol: "modbus" },
      { rule: "consecutive", protocol: "opcua" },
      { rule: "rate-count", protocol: "modbus" },
      { rule: "rate-time", protocol: "opcua" },
    ],
  },
  {
    name: "join-views",
    runtime: (c) => void parseJoinViewsOptions(c),
    contexts: [{}],
  },
  {
    name: "archive",
    runtime: (c) => void parseArchiveOptions(c),
    contexts: [{}],
  },
  {
    name: "part-wire",
    runtime: (c) => void parseWireOptions(c, "worker"),
    contexts: [{ mode: "part-out" }, { mode: "part-in" }, { mode: "result-out" }],
  },
  {
    name: "part-collector",
    runtime: (c) => void parseLedgerOptions(c),
    contexts: [{}],
  },
  {
    name: "model-share",
    runtime: (c) => void parseShareOptions(c, "worker"),
    contexts: [
      { mode: "publish", detector: "d1" },
      { mode: "receive", detector: "d1" },
    ],
  },
  { name: "vision-station", runtime: (c) => parseStationOptions(c), contexts: [{}] },
];

describe("edit dialogs and runtime agree on valid settings", function () {
  for (const c of CASES) {
    describe(`defect-${c.name}`, function () {
      let def: EditorDefinition;
      before(function () {
        def = loadEditorDefinition(c.name);
      });

      it("deploys with the dialog's defaults, unedited, in every mode", function () {
        for (const context of c.contexts) {
          const node = defaultNode(def, context);
          for (const key of Object.keys(def.defaults)) {
            if (c.earlierInEditor?.[key] !== undefined && node[key] === "") continue;
            assert.equal(editorVerdict(def, node, key), true, `${key} = "${String(node[key])}" in ${JSON.stringify(context)}`);
          }
          assert.ok(accepts(c.runtime, node), `the runtime accepts the defaults in ${JSON.stringify(context)}`);
        }
      });

      it("accepts in the dialog exactly what the runtime accepts", function () {
        const disagreements: string[] = [];
        for (const context of c.contexts) {
          for (const key of Object.keys(def.defaults)) {
            if (key === "name" || key in context) continue;
            // A checkbox holds only true or false.
            const probes = typeof def.defaults[key]?.value === "boolean" ? [true, false] : PROBES;
            for (const probe of probes) {
              const node = defaultNode(def, { ...context, [key]: probe });
              const editor = editorVerdict(def, node, key) === true;
              const runtime = accepts(c.runtime, node);
              if (editor === runtime) continue;
              if (!runtime || c.earlierInEditor?.[key] === undefined) {
                disagreements.push(
                  `${key}="${String(probe)}" in ${JSON.stringify(context)}: dialog ${editor ? "accepts" : "refuses"}, runtime ${runtime ? "accepts" : "refuses"}`,
                );
              }
            }
          }
        }
        assert.deepEqual(disagreements, []);
      });

      it("explains refusals inline: validators return a message from the catalog when asked", function () {
        for (const [key, prop] of Object.entries(def.defaults)) {
          if (prop.validate === undefined) continue;
          assert.equal(prop.validate.length, 2, `${key}'s validator takes (value, opt) and may return its message`);
        }
        const known = catalogKeys(c.name);
        const missing = new Set<string>();
        for (const context of c.contexts) {
          for (const key of Object.keys(def.defaults)) {
            for (const probe of PROBES) {
              const node = defaultNode(def, { ...context, [key]: probe });
              const message = editorVerdict(def, node, key);
              // The node's translator returns the key here; Node-RED's own validators use its catalog.
              if (typeof message === "string" && !message.startsWith("validator.") && !known.has(message)) missing.add(message);
              if (message === false && def.defaults[key]?.required !== true) missing.add(`${key}: refused without a message`);
            }
          }
        }
        assert.deepEqual([...missing], []);
      });
    });
  }
});
