// YOLO post-processing cost against the model's own run time (run `npm run build` first):
//   node scripts/bench-yolo.mjs
// The model is built here with the package's graph builder: YOLOv8n's output ([1, 84, 8400]: 80 classes,
// anchors at strides 8/16/32 of a 640x640 input) and roughly its compute (Ultralytics quotes 8.7 GFLOPs,
// counting 2 per multiply-add), from seeded random weights. Its class logits get one bias, calibrated on a
// first run, so that about BENCH_CANDIDATES anchors (default 300) pass the 0.25 confidence, as in a busy
// real image: random weights alone give either none or thousands, and NMS time depends on that count.
// Env: BENCH_THREADS (ORT intra-op threads, default ORT's choice), BENCH_RUNS (model runs, default 20),
// BENCH_CANDIDATES.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
if (!existsSync(`${dist}lib/supervised/yolo-decode.js`)) {
  console.error(`bench-yolo: ${dist} lacks the supervised modules: run \`npm run build\` first.`);
  process.exit(1);
}
const { GraphBuilder } = (await import(`${dist}lib/onnx/graph-builder.js`)).default;
const { Rng } = (await import(`${dist}lib/synth/random.js`)).default;
const { decodeYoloV8 } = (await import(`${dist}lib/supervised/yolo-decode.js`)).default;
const { nonMaxSuppression } = (await import(`${dist}lib/supervised/nms.js`)).default;
const { placeBox } = (await import(`${dist}lib/supervised/detect-boxes.js`)).default;
const { computeTransform } = (await import(`${dist}lib/image/transform.js`)).default;

const ORT_VERSION = createRequire(import.meta.url)("onnxruntime-node/package.json").version;
const SIZE = 640;
const CLASSES = 80;
const BOX_ROWS = 4;
const CONFIDENCE = 0.25;
const IOU = 0.45;
const MAX_DETECTIONS = 300;
const SEED = 8;
const WARM_UP = 3;
const RUNS = Math.max(20, Number(process.env.BENCH_RUNS ?? 20));
/** Post-processing takes milliseconds: more repeats for a stable median. */
const POST_RUNS = 200;
const TARGET_CANDIDATES = Number(process.env.BENCH_CANDIDATES ?? 300);
const THREADS = process.env.BENCH_THREADS === undefined ? undefined : Number(process.env.BENCH_THREADS);
/** A 1080p camera frame letterboxed into the 640x640 tensor, for the mapping back. */
const SOURCE = { width: 1920, height: 1080 };
/**
 * Per detection scale: stride, channels, 3x3 convs after the downsampling one. With the stem and
 * one 3x3 head conv per scale these come to about YOLOv8n's 8.7 GFLOPs (printed below).
 */
const SCALES = [
  { stride: 8, channels: 64, convs: 5 },
  { stride: 16, channels: 128, convs: 4 },
  { stride: 32, channels: 256, convs: 3 },
];
/** Box sizes the head emits span 1..9 strides, so neighbouring anchors overlap as real ones do. */
const MAX_BOX_STRIDES = 8;

function buildModel(classBias, withRawClasses) {
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
  const stem = [16, 32, 32];
  for (const [i, cout] of stem.entries()) {
    x = conv(x, channels, cout, 3, i === 2 ? 1 : 2, true);
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
  // Boxes: cx, cy within a stride of the anchor centre; w, h of 1..9 strides; in tensor pixels.
  const anchors = SCALES.reduce((n, s) => n + (SIZE / s.stride) ** 2, 0);
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
  const boxSig = g.op("Sigmoid", [slice("box", 0, BOX_ROWS)]);
  const box = g.op("Add", [g.op("Mul", [boxSig, g.constant("box_scale", scale, [1, BOX_ROWS, anchors])]), g.constant("box_offset", offset, [1, BOX_ROWS, anchors])]);
  const classRaw = slice("cls", BOX_ROWS, BOX_ROWS + CLASSES);
  const classes = g.op("Sigmoid", [g.op("Add", [classRaw, g.constantFloat("class_bias", [classBias], [])])]);
  g.output(g.op("Concat", [box, classes], { axis: 1 }), "output0", "float32", [1, BOX_ROWS + CLASSES, anchors]);
  if (withRawClasses) g.output(classRaw, "class_logits", "float32", [1, CLASSES, anchors]);
  return { bytes: g.build(), flops, anchors };
}

function median(values) {
  const s = [...values].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;

function sessionOptions() {
  return THREADS === undefined ? {} : { intraOpNumThreads: THREADS };
}

function inputTensor() {
  const rng = new Rng(SEED + 1);
  const data = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < data.length; i++) data[i] = rng.next();
  return new ort.Tensor("float32", data, [1, 3, SIZE, SIZE]);
}

/** The class bias that puts TARGET_CANDIDATES anchors' best class above the confidence. */
async function calibrateBias(images) {
  const { bytes, anchors } = buildModel(0, true);
  const session = await ort.InferenceSession.create(bytes, sessionOptions());
  const out = await session.run({ images });
  await session.release();
  const logits = out.class_logits.data;
  const best = new Float32Array(anchors).fill(-Infinity);
  for (let c = 0; c < CLASSES; c++) for (let i = 0; i < anchors; i++) best[i] = Math.max(best[i], logits[c * anchors + i]);
  best.sort().reverse();
  const k = Math.min(anchors - 1, TARGET_CANDIDATES);
  const threshold = Math.log(CONFIDENCE / (1 - CONFIDENCE));
  return threshold - (best[k - 1] + best[k]) / 2;
}

const images = inputTensor();
const bias = await calibrateBias(images);
const { bytes, flops, anchors } = buildModel(bias, false);
const session = await ort.InferenceSession.create(bytes, sessionOptions());
const feeds = { images };
let output;
for (let i = 0; i < WARM_UP; i++) output = (await session.run(feeds)).output0;
const modelTimes = [];
for (let i = 0; i < RUNS; i++) {
  const start = process.hrtime.bigint();
  output = (await session.run(feeds)).output0;
  modelTimes.push(ms(start));
}
await session.release();

const transform = computeTransform(SOURCE, null, { width: SIZE, height: SIZE, resize: "letterbox" });
const tensorSize = { width: SIZE, height: SIZE };
const nameOf = (i) => `class ${i}`;
const times = { decode: [], nms: [], map: [], total: [] };
let candidates = 0;
let kept = 0;
for (let i = 0; i < WARM_UP + POST_RUNS; i++) {
  const t0 = process.hrtime.bigint();
  const decoded = decodeYoloV8(output.data, output.dims, CLASSES, 0, CONFIDENCE);
  const t1 = process.hrtime.bigint();
  const survivors = nonMaxSuppression(decoded, IOU, MAX_DETECTIONS, true);
  const t2 = process.hrtime.bigint();
  const boxes = survivors.map((c) => placeBox(c, nameOf, tensorSize, transform)).filter((b) => b !== null);
  const t3 = process.hrtime.bigint();
  candidates = decoded.length;
  kept = boxes.length;
  if (i < WARM_UP) continue;
  times.decode.push(Number(t1 - t0) / 1e6);
  times.nms.push(Number(t2 - t1) / 1e6);
  times.map.push(Number(t3 - t2) / 1e6);
  times.total.push(Number(t3 - t0) / 1e6);
}

const model = median(modelTimes);
const post = median(times.total);
const f = (v) => v.toFixed(3);
console.log(`YOLOv8n-like graph: input [1,3,${SIZE},${SIZE}], output0 [1,${BOX_ROWS + CLASSES},${anchors}], ` +
  `${(flops / 1e9).toFixed(2)} GFLOPs (2 per multiply-add), class bias ${bias.toFixed(2)}; ` +
  `onnxruntime-node ${ORT_VERSION} CPU, intra-op threads ${THREADS ?? "default"}; ` +
  `medians over ${RUNS} model runs and ${POST_RUNS} post-processing runs after ${WARM_UP} warm-up.\n`);
console.log("| stage | median ms |");
console.log("|---|---:|");
console.log(`| model: session.run | ${f(model)} |`);
console.log(`| decode (decodeYoloV8, ${anchors} anchors x ${CLASSES} classes -> ${candidates} candidates > ${CONFIDENCE}) | ${f(median(times.decode))} |`);
console.log(`| NMS (class-aware, IoU ${IOU}, ${candidates} -> ${kept} boxes) | ${f(median(times.nms))} |`);
console.log(`| mapping back (letterbox to ${SOURCE.width}x${SOURCE.height}) | ${f(median(times.map))} |`);
console.log(`| post-processing total | ${f(post)} |`);
console.log(`| **post / model** | **${((100 * post) / model).toFixed(2)} %** |`);
