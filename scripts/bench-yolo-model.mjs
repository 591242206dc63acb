// The model of scripts/bench-yolo.mjs, built with the package's graph builder: YOLOv8n's output
// ([1, 84, 8400]: 80 classes, anchors at strides 8/16/32 of a 640x640 input) and roughly its compute
// (Ultralytics quotes 8.7 GFLOPs, counting 2 per multiply-add), from seeded random weights. Its class
// logits get one bias, calibrated on the benchmark's own input, so that a chosen number of anchors pass
// the confidence, as in a busy real image: random weights alone give either none or thousands, and NMS
// time depends on that count. Needs `npm run build` (imports dist/).
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";

// onnxruntime telemetry stays off, as in the package (src/lib/onnx/offline.ts).
process.env.ORT_DISABLE_TELEMETRY ??= "1";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const { GraphBuilder } = (await import(`${dist}lib/onnx/graph-builder.js`)).default;
const { Rng } = (await import(`${dist}lib/random.js`)).default;

export const SIZE = 640;
export const CLASSES = 80;
export const BOX_ROWS = 4;
const SEED = 8;
/**
 * Per detection scale: stride, channels, 3x3 convs after the downsampling one. With the stem and
 * one 3x3 head conv per scale these come to about YOLOv8n's 8.7 GFLOPs (the benchmark prints it).
 */
const SCALES = [
  { stride: 8, channels: 64, convs: 5 },
  { stride: 16, channels: 128, convs: 4 },
  { stride: 32, channels: 256, convs: 3 },
];
const STEM = [16, 32, 32];
/** Box sizes the head emits span 1..9 strides, so neighbouring anchors overlap as real ones do. */
const MAX_BOX_STRIDES = 8;

/**
 * The ONNX bytes, FLOPs (2 per multiply-add) and anchor count. `withRawClasses` adds the class
 * logits before the bias as a second output, for the calibration.
 */
export function buildYoloModel(classBias, withRawClasses = false) {
  const rng = new Rng(SEED);
  const g = new GraphBuilder({ name: "yolov8n-like" });
  let flops = 0;
  let count = 0;
  let x = g.input("images", "float32", [1, 3, SIZE, SIZE]);
  let channels = 3;
  let side = SIZE;
  const conv = (input, cin, cout, kernel, stride, act) => {
    const fanIn = cin * kernel * kernel;
    // He-uniform for SiLU layers keeps activations from dying out over the stack; unit gain for heads.
    const bound = Math.sqrt((act ? 6 : 3) / fanIn);
    const w = new Float32Array(cout * fanIn);
    for (let i = 0; i < w.length; i++) w[i] = rng.range(-bound, bound);
    const id = count++;
    const weight = g.constant(`w${id}`, w, [cout, cin, kernel, kernel]);
    const bias = g.constant(`b${id}`, new Float32Array(cout), [cout]);
    const pad = (kernel - 1) / 2;
    const y = g.op("Conv", [input, weight, bias], { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad] });
    side /= stride;
    flops += 2 * cout * fanIn * side * side;
    // SiLU as Ultralytics exports it: x * sigmoid(x).
    return act ? g.op("Mul", [y, g.op("Sigmoid", [y])]) : y;
  };
  for (const [i, cout] of STEM.entries()) {
    x = conv(x, channels, cout, 3, i === STEM.length - 1 ? 1 : 2, true);
    channels = cout;
  }
  const heads = [];
  for (const scale of SCALES) {
    x = conv(x, channels, scale.channels, 3, 2, true);
    channels = scale.channels;
    for (let i = 0; i < scale.convs; i++) x = conv(x, channels, channels, 3, 1, true);
    const h = conv(x, channels, channels, 3, 1, true);
    const out = conv(h, channels, BOX_ROWS + CLASSES, 1, 1, false);
    heads.push(g.op("Reshape", [out, g.constantInt64(`shape${heads.length}`, [1, BOX_ROWS + CLASSES, -1])]));
  }
  const raw = g.op("Concat", heads, { axis: 2 });
  const slice = (name, start, end) =>
    g.op("Slice", [raw, g.constantInt64(`${name}_start`, [start]), g.constantInt64(`${name}_end`, [end]), g.constantInt64(`${name}_axis`, [1])]);
  const anchors = SCALES.reduce((n, s) => n + (SIZE / s.stride) ** 2, 0);
  const { scale, offset } = boxScaling(anchors);
  // Boxes: cx, cy within a stride of the anchor centre; w, h of 1..9 strides; in tensor pixels.
  const boxSig = g.op("Sigmoid", [slice("box", 0, BOX_ROWS)]);
  const box = g.op("Add", [
    g.op("Mul", [boxSig, g.constant("box_scale", scale, [1, BOX_ROWS, anchors])]),
    g.constant("box_offset", offset, [1, BOX_ROWS, anchors]),
  ]);
  const classRaw = slice("cls", BOX_ROWS, BOX_ROWS + CLASSES);
  const classes = g.op("Sigmoid", [g.op("Add", [classRaw, g.constantFloat("class_bias", [classBias], [])])]);
  g.output(g.op("Concat", [box, classes], { axis: 1 }), "output0", "float32", [1, BOX_ROWS + CLASSES, anchors]);
  if (withRawClasses) g.output(classRaw, "class_logits", "float32", [1, CLASSES, anchors]);
  return { bytes: g.build(), flops, anchors };
}

/** Per anchor and box row, the scale and offset that turn a sigmoid into tensor pixels. */
function boxScaling(anchors) {
  const scale = new Float32Array(BOX_ROWS * anchors);
  const offset = new Float32Array(BOX_ROWS * anchors);
  let a = 0;
  for (const { stride } of SCALES) {
    const cells = SIZE / stride;
    for (let cy = 0; cy < cells; cy++) {
      for (let cx = 0; cx < cells; cx++, a++) {
        const centre = [(cx + 0.5) * stride, (cy + 0.5) * stride];
        for (let r = 0; r < 2; r++) {
          scale[r * anchors + a] = 2 * stride;
          offset[r * anchors + a] = centre[r] - stride;
          scale[(r + 2) * anchors + a] = MAX_BOX_STRIDES * stride;
          offset[(r + 2) * anchors + a] = stride;
        }
      }
    }
  }
  return { scale, offset };
}

/** The class bias that puts `candidates` anchors' best class above `confidence` for this input. */
export async function calibrateClassBias(images, sessionOptions, candidates, confidence) {
  const { bytes, anchors } = buildYoloModel(0, true);
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  let logits;
  try {
    logits = (await session.run({ images })).class_logits.data;
  } finally {
    await session.release();
  }
  const best = new Float32Array(anchors).fill(-Infinity);
  for (let c = 0; c < CLASSES; c++) for (let i = 0; i < anchors; i++) best[i] = Math.max(best[i], logits[c * anchors + i]);
  best.sort().reverse();
  const k = Math.min(anchors - 1, candidates);
  const threshold = Math.log(confidence / (1 - confidence));
  return threshold - (best[k - 1] + best[k]) / 2;
}
