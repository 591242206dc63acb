// Experiment (not used by the package): quantise every Conv of an ONNX backbone to int8 in QDQ form
// (weights per output channel, symmetric int8; activations per tensor, uint8 from the min/max over
// 8 calibration images), time it against the float model, and write the quantised model so that
// `defect-detection eval --backbone OUT` can measure its accuracy. BENCHMARKS.md reports the result.
// Usage: node experiments/experiment-int8-backbone.cjs MODEL.onnx CALIBRATION_DIR OUT.onnx
const { onnx } = require("onnx-proto");
const ort = require("onnxruntime-node");
const fs = require("fs");
const src = process.argv[2];
const bytes = fs.readFileSync(src);
function decode() {
  return onnx.ModelProto.decode(bytes);
}
function floatsOf(t) {
  if (t.rawData && t.rawData.length) {
    const b = Buffer.from(t.rawData);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  }
  return Float32Array.from(t.floatData);
}
function tensor(name, dataType, dims, raw) {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) });
}
const F = 1,
  U8 = 2,
  I8 = 3;
async function calibrate(names, inputs) {
  const m = decode();
  const have = new Set(m.graph.output.map((o) => o.name));
  for (const n of names) if (!have.has(n)) m.graph.output.push(onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: F } } }));
  const s = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish(), { intraOpNumThreads: 2 });
  const ranges = {};
  for (const x of inputs) {
    const out = await s.run({ input: x });
    for (const n of names) {
      const d = out[n].data;
      let lo = 0,
        hi = 0;
      for (let i = 0; i < d.length; i++) {
        const v = d[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const r = ranges[n] ?? [0, 0];
      ranges[n] = [Math.min(r[0], lo), Math.max(r[1], hi)];
    }
  }
  await s.release();
  return ranges;
}
function quantize(ranges) {
  const m = decode();
  const g = m.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const nodes = [];
  const qdqDone = new Map();
  const addAct = (name) => {
    // returns dequantized name
    if (qdqDone.has(name)) return qdqDone.get(name);
    const [lo, hi] = ranges[name];
    const scale = Math.max((hi - lo) / 255, 1e-8);
    const zp = Math.min(255, Math.max(0, Math.round(-lo / scale)));
    g.initializer.push(tensor(name + "_s", F, [], new Float32Array([scale])));
    g.initializer.push(tensor(name + "_zp", U8, [], new Uint8Array([zp])));
    nodes.push(onnx.NodeProto.create({ opType: "QuantizeLinear", input: [name, name + "_s", name + "_zp"], output: [name + "_q"], name: name + "_Q" }));
    nodes.push(
      onnx.NodeProto.create({ opType: "DequantizeLinear", input: [name + "_q", name + "_s", name + "_zp"], output: [name + "_dq"], name: name + "_DQ" }),
    );
    qdqDone.set(name, name + "_dq");
    return name + "_dq";
  };
  const convOut = new Set();
  const renames = new Map();
  for (const n of g.node) {
    if (n.opType !== "Conv") {
      n.input = n.input.map((i) => renames.get(i) ?? i);
      nodes.push(n);
      continue;
    }
    const [x, w, b] = n.input;
    const W = inits.get(w);
    const wd = floatsOf(W);
    const oc = Number(W.dims[0]);
    const per = wd.length / oc;
    const q = new Int8Array(wd.length);
    const sc = new Float32Array(oc);
    for (let o = 0; o < oc; o++) {
      let mx = 0;
      for (let i = 0; i < per; i++) mx = Math.max(mx, Math.abs(wd[o * per + i]));
      const s = Math.max(mx / 127, 1e-12);
      sc[o] = s;
      for (let i = 0; i < per; i++) q[o * per + i] = Math.max(-127, Math.min(127, Math.round(wd[o * per + i] / s)));
    }
    g.initializer.push(tensor(w + "_q", I8, W.dims, q));
    g.initializer.push(tensor(w + "_s", F, [oc], sc));
    g.initializer.push(tensor(w + "_zp", I8, [oc], new Int8Array(oc)));
    nodes.push(
      onnx.NodeProto.create({
        opType: "DequantizeLinear",
        input: [w + "_q", w + "_s", w + "_zp"],
        output: [w + "_dq"],
        attribute: [onnx.AttributeProto.create({ name: "axis", type: 2, i: 0 })],
        name: w + "_DQ",
      }),
    );
    const xin = addAct(renames.get(x) ?? x);
    const out = n.output[0];
    n.input = [xin, w + "_dq", ...(b ? [b] : [])];
    n.output = [out + "_f"];
    nodes.push(n);
    // output QDQ
    const [lo, hi] = ranges[out];
    const scale = Math.max((hi - lo) / 255, 1e-8);
    const zp = Math.min(255, Math.max(0, Math.round(-lo / scale)));
    g.initializer.push(tensor(out + "_os", F, [], new Float32Array([scale])));
    g.initializer.push(tensor(out + "_ozp", U8, [], new Uint8Array([zp])));
    nodes.push(onnx.NodeProto.create({ opType: "QuantizeLinear", input: [out + "_f", out + "_os", out + "_ozp"], output: [out + "_oq"], name: out + "_OQ" }));
    nodes.push(onnx.NodeProto.create({ opType: "DequantizeLinear", input: [out + "_oq", out + "_os", out + "_ozp"], output: [out], name: out + "_ODQ" }));
  }
  g.node = nodes;
  return onnx.ModelProto.encode(m).finish();
}
(async () => {
  const m0 = decode();
  const names = new Set();
  for (const n of m0.graph.node)
    if (n.opType === "Conv") {
      names.add(n.input[0]);
      names.add(n.output[0]);
    }
  const sharp = require("sharp");
  const dir = process.argv[3].replace(/\/?$/, "/");
  const files = fs.readdirSync(dir).sort().slice(0, 8);
  const mean = [0.485, 0.456, 0.406],
    std = [0.229, 0.224, 0.225];
  const inputs = [];
  for (const f of files) {
    const { data } = await sharp(dir + f)
      .removeAlpha()
      .toColourspace("srgb")
      .resize(256, 256, { fit: "fill" })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const t = new Float32Array(3 * 256 * 256);
    const ch = data.length / (256 * 256);
    for (let i = 0; i < 256 * 256; i++) for (let c = 0; c < 3; c++) t[c * 65536 + i] = (data[i * ch + Math.min(c, ch - 1)] / 255 - mean[c]) / std[c];
    inputs.push(new ort.Tensor("float32", t, [1, 3, 256, 256]));
  }
  const ranges = await calibrate([...names], inputs);
  const qbytes = quantize(ranges);
  fs.writeFileSync(process.argv[4], qbytes);
  const sf = await ort.InferenceSession.create(src, { intraOpNumThreads: 2 });
  const sq = await ort.InferenceSession.create(qbytes, { intraOpNumThreads: 2 });
  const x = inputs[0];
  for (let i = 0; i < 3; i++) {
    await sf.run({ input: x });
    await sq.run({ input: x });
  }
  const tf = [],
    tq = [];
  for (let i = 0; i < 12; i++) {
    let a = performance.now();
    await sf.run({ input: x });
    tf.push(performance.now() - a);
    a = performance.now();
    await sq.run({ input: x });
    tq.push(performance.now() - a);
  }
  const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
  console.log("fp32", med(tf).toFixed(1), "int8", med(tq).toFixed(1), "ratio", (med(tf) / med(tq)).toFixed(2));
  const of = await sf.run({ input: inputs[3] }),
    oq = await sq.run({ input: inputs[3] });
  for (const k of ["layer2", "layer3"]) {
    const a = of[k].data,
      b = oq[k].data;
    let d = 0,
      n = 0;
    for (let i = 0; i < a.length; i++) {
      d += (a[i] - b[i]) ** 2;
      n += a[i] ** 2;
    }
    console.log(k, "rel err", Math.sqrt(d / n).toFixed(4));
  }
})();
