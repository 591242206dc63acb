import assert from "node:assert/strict";
import { onnx } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { DefectError } from "../../src/lib/errors";
import { GraphBuilder, Value, attr } from "../../src/lib/onnx/graph-builder";

const FLOAT_TOLERANCE = 1e-6;

type Feed = { data: Float32Array | BigInt64Array; dims: number[] };

/** Runs a model straight through onnxruntime, independent of the session layer. */
async function runModel(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      tensors[name] = feed.data instanceof Float32Array ? new ort.Tensor("float32", feed.data, feed.dims) : new ort.Tensor("int64", feed.data, feed.dims);
    }
    return { ...(await session.run(tensors)) };
  } finally {
    await session.release();
  }
}

function f32(values: number[], dims: number[]): Feed {
  return { data: Float32Array.from(values), dims };
}

function assertTensor(tensor: ort.Tensor | undefined, dims: number[], expected: number[]): void {
  assert.ok(tensor, "output missing");
  assert.deepEqual(tensor.dims, dims);
  const actual = Array.from(tensor.data as Float32Array);
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => {
    assert.ok(Math.abs(v - (expected[i] ?? NaN)) <= FLOAT_TOLERANCE, `element ${i}: ${v} != ${expected[i]} (got [${actual.join(", ")}])`);
  });
}

/** Builds a graph of one op on float inputs and returns its only output. */
async function runUnary(
  opType: string,
  input: Feed,
  attributes: Parameters<GraphBuilder["op"]>[2] = {},
  extra: (g: GraphBuilder) => Value[] = () => [],
): Promise<ort.Tensor | undefined> {
  const g = new GraphBuilder({ name: opType });
  const x = g.input("x", "float32", input.dims);
  g.output(g.op(opType, [x, ...extra(g)], attributes), "y", "float32");
  return (await runModel(g.build(), { x: input })).y;
}

function expectGraphInvalid(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof DefectError);
    assert.equal(error.code, "graphInvalid");
    assert.equal(error.message, message);
    return true;
  });
}

describe("onnx graph builder", () => {
  describe("operators run in onnxruntime", () => {
    it("Conv 3x3 with padding and bias", async () => {
      const y = await runUnary("Conv", f32([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]), { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, (g) => [
        g.constantFloat("w", [0, 1, 0, 1, -4, 1, 0, 1, 0], [1, 1, 3, 3]),
        g.constantFloat("b", [0.5]),
      ]);
      // Laplacian by hand: up + down + left + right - 4 * centre, zero outside, + 0.5.
      assertTensor(y, [1, 1, 3, 3], [2.5, 1.5, -3.5, -2.5, 0.5, -6.5, -15.5, -10.5, -21.5]);
    });

    it("Conv with stride 2 sums 2x2 blocks over two channels", async () => {
      const input = Array.from({ length: 32 }, (_, i) => (i < 16 ? i : 100));
      const y = await runUnary("Conv", f32(input, [1, 2, 4, 4]), { kernel_shape: [2, 2], strides: [2, 2] }, (g) => [
        g.constantFloat("w", new Array<number>(8).fill(1), [1, 2, 2, 2]),
      ]);
      // Channel 0 blocks: 0+1+4+5, 2+3+6+7, 8+9+12+13, 10+11+14+15; channel 1 adds 400 each.
      assertTensor(y, [1, 1, 2, 2], [410, 418, 442, 450]);
    });

    it("Relu", async () => {
      assertTensor(await runUnary("Relu", f32([-2, -0.5, 0, 1.5], [4])), [4], [0, 0, 0, 1.5]);
    });

    it("MaxPool and AveragePool 2x2 stride 2", async () => {
      const input = f32(
        Array.from({ length: 16 }, (_, i) => i),
        [1, 1, 4, 4],
      );
      const pool = { kernel_shape: [2, 2], strides: [2, 2] };
      assertTensor(await runUnary("MaxPool", input, pool), [1, 1, 2, 2], [5, 7, 13, 15]);
      assertTensor(await runUnary("AveragePool", input, pool), [1, 1, 2, 2], [2.5, 4.5, 10.5, 12.5]);
    });

    it("MatMul", async () => {
      const y = await runUnary("MatMul", f32([1, 2, 3, 4, 5, 6], [2, 3]), {}, (g) => [g.constantFloat("b", [7, 8, 9, 10, 11, 12], [3, 2])]);
      assertTensor(y, [2, 2], [58, 64, 139, 154]);
    });

    it("Gemm with float alpha and beta and transB", async () => {
      const y = await runUnary("Gemm", f32([1, 2, 3, 4], [2, 2]), { alpha: attr.float(0.5), beta: attr.float(2), transB: 1 }, (g) => [
        g.constantFloat("b", [1, 0, 1, 1, 0, 1], [3, 2]),
        g.constantFloat("c", [1, -1, 0.25]),
      ]);
      // A * B^T = [[1,3,2],[3,7,4]]; * 0.5 + 2 * [1,-1,0.25].
      assertTensor(y, [2, 3], [2.5, -0.5, 1.5, 3.5, 1.5, 2.5]);
    });

    it("Add and Mul broadcast", async () => {
      const g = new GraphBuilder({ name: "arith" });
      const x = g.input("x", "float32", [3]);
      const sum = g.op("Add", [x, g.constantFloat("ten", [10], [])]);
      g.output(g.op("Mul", [sum, g.constantFloat("k", [2, 3, 4])]), "y", "float32", [3]);
      const out = await runModel(g.build(), { x: f32([1, 2, 3], [3]) });
      assertTensor(out.y, [3], [22, 36, 52]);
    });

    it("Sigmoid", async () => {
      assertTensor(await runUnary("Sigmoid", f32([0, Math.log(3), -Math.log(3)], [3])), [3], [0.5, 0.75, 0.25]);
    });

    it("Softmax rows sum to one", async () => {
      const y = await runUnary("Softmax", f32([0, Math.log(2), Math.log(5), 7, 7, 7], [2, 3]), { axis: 1 });
      assertTensor(y, [2, 3], [0.125, 0.25, 0.625, 1 / 3, 1 / 3, 1 / 3]);
    });

    it("Reshape with an int64 shape constant", async () => {
      const y = await runUnary("Reshape", f32([0, 1, 2, 3, 4, 5], [1, 2, 3]), {}, (g) => [g.constantInt64("shape", [3, -1])]);
      assertTensor(y, [3, 2], [0, 1, 2, 3, 4, 5]);
    });

    it("Transpose reorders the layout", async () => {
      const y = await runUnary("Transpose", f32([0, 1, 2, 3, 4, 5], [1, 2, 3]), { perm: [0, 2, 1] });
      assertTensor(y, [1, 3, 2], [0, 3, 1, 4, 2, 5]);
    });

    it("Concat along an axis", async () => {
      const y = await runUnary("Concat", f32([1, 2, 3, 4], [2, 2]), { axis: 1 }, (g) => [g.constantFloat("c", [9, 8], [2, 1])]);
      assertTensor(y, [2, 3], [1, 2, 9, 3, 4, 8]);
    });

    it("Resize nearest 2x by scales", async () => {
      const y = await runUnary("Resize", f32([1, 2, 3, 4], [1, 1, 2, 2]), { mode: "nearest" }, (g) => [
        g.constantFloat("roi", []),
        g.constantFloat("scales", [1, 1, 2, 2]),
      ]);
      assertTensor(y, [1, 1, 4, 4], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    });

    it("Resize linear 2x by sizes with omitted optional inputs", async () => {
      const g = new GraphBuilder({ name: "resize" });
      const x = g.input("x", "float32", [1, 1, 2, 2]);
      const sizes = g.constantInt64("sizes", [1, 1, 4, 4]);
      g.output(g.op("Resize", [x, null, null, sizes], { mode: "linear" }), "y", "float32");
      const out = await runModel(g.build(), { x: f32([1, 2, 3, 4], [1, 1, 2, 2]) });
      // half_pixel: output i samples source (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to the edge.
      // Row [1,2] -> [1, 1.25, 1.75, 2]; column [1,3] -> [1, 1.5, 2.5, 3].
      assertTensor(out.y, [1, 1, 4, 4], [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
    });

    it("generic ops: ReduceMean, LeakyRelu and Constant with a tensor attribute", async () => {
      const g = new GraphBuilder({ name: "generic" });
      const x = g.input("x", "float32", [2, 2]);
      const mean = g.op("ReduceMean", [x], { axes: [1], keepdims: 0 });
      const leaky = g.op("LeakyRelu", [mean], { alpha: attr.float(0.1) });
      const offset = g.op("Constant", [], { value: attr.tensor(Float32Array.from([100, 200]), [2]) });
      g.output(g.op("Add", [leaky, offset]), "y", "float32", [2]);
      const out = await runModel(g.build(), { x: f32([1, 3, -10, -30], [2, 2]) });
      assertTensor(out.y, [2], [102, 198]);
    });

    it("multi-output ops: TopK values and int64 indices", async () => {
      const g = new GraphBuilder({ name: "topk" });
      const x = g.input("x", "float32", [5]);
      const [values, indices] = g.opMulti("TopK", [x, g.constantInt64("k", [2])], 2, { axis: 0 });
      assert.ok(values && indices);
      g.output(values, "values", "float32", [2]);
      g.output(indices, "indices", "int64", [2]);
      const out = await runModel(g.build(), { x: f32([3, 1, 4, 1, 5], [5]) });
      assertTensor(out.values, [2], [5, 4]);
      assert.deepEqual(Array.from(out.indices?.data as BigInt64Array), [4n, 2n]);
    });

    it("imports the domain of contrib ops", async () => {
      const g = new GraphBuilder({ name: "contrib" });
      const x = g.input("x", "float32", [2]);
      g.output(g.op("FastGelu", [x], {}, { domain: "com.microsoft" }), "y", "float32");
      const model = onnx.ModelProto.decode(g.build());
      assert.deepEqual(
        model.opsetImport.map((o) => [o.domain, Number(o.version)]),
        [
          ["", 17],
          ["com.microsoft", 1],
        ],
      );
      // FastGelu(0) = 0; FastGelu(x) approaches x for large x.
      assertTensor((await runModel(g.build(), { x: f32([0, 20], [2]) })).y, [2], [0, 20]);
    });

    it("passes a graph input straight to a renamed output", async () => {
      const g = new GraphBuilder({ name: "identity" });
      g.output(g.input("x", "float32", ["n"]), "y", "float32", ["n"]);
      assertTensor((await runModel(g.build(), { x: f32([7, 8], [2]) })).y, [2], [7, 8]);
    });
  });

  describe("encoding", () => {
    it("writes IR 8, opset 17 and typed attributes", () => {
      const g = new GraphBuilder({ name: "enc" });
      const x = g.input("x", "float32", [1, 3, "height", "width"]);
      const w = g.constantFloat("w", new Array<number>(9).fill(0), [1, 1, 3, 3]);
      const y = g.op("Conv", [x, w], { pads: [1, 1, 1, 1], group: 1, auto_pad: "NOTSET" });
      g.output(g.op("LeakyRelu", [y], { alpha: attr.float(0.25) }), "y", "float32");
      const model = onnx.ModelProto.decode(g.build());
      assert.equal(Number(model.irVersion), 8);
      assert.deepEqual(
        model.opsetImport.map((o) => [o.domain, Number(o.version)]),
        [["", 17]],
      );
      const T = onnx.AttributeProto.AttributeType;
      const [conv, leaky] = model.graph?.node ?? [];
      assert.deepEqual(
        conv?.attribute?.map((a) => [a.name, a.type]),
        [
          ["pads", T.INTS],
          ["group", T.INT],
          ["auto_pad", T.STRING],
        ],
      );
      assert.deepEqual(
        leaky?.attribute?.map((a) => [a.name, a.type, a.f]),
        [["alpha", T.FLOAT, 0.25]],
      );
      const dims = model.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue));
      assert.deepEqual(dims, [1, 3, "height", "width"]);
    });

    it("defaults to opset 17 and honours another opset", () => {
      const g = new GraphBuilder({ name: "o", opset: 13 });
      g.output(g.input("x", "float32", [1]), "y", "float32");
      assert.equal(Number(onnx.ModelProto.decode(g.build()).opsetImport[0]?.version), 13);
    });
  });

  describe("validation", () => {
    it("rejects an unknown value name", () => {
      const g = new GraphBuilder({ name: "v" });
      const x = g.input("x", "float32", [1]);
      expectGraphInvalid(() => g.op("Add", [x, new Value("ghost")]), 'node "Add_0" (Add) uses unknown value "ghost"');
    });

    it("rejects a value from another builder", () => {
      const other = new GraphBuilder({ name: "other" }).input("foreign", "float32", [1]);
      const g = new GraphBuilder({ name: "v" });
      expectGraphInvalid(() => g.op("Relu", [other], {}, { name: "r" }), 'node "r" (Relu) uses unknown value "foreign"');
    });

    it("rejects duplicate names", () => {
      const g = new GraphBuilder({ name: "dup" });
      const x = g.input("x", "float32", [1]);
      expectGraphInvalid(() => g.input("x", "float32", [1]), 'graph input "x" reuses a name already in graph "dup"');
      expectGraphInvalid(() => g.constantFloat("x", [1]), 'constant "x" reuses a name already in graph "dup"');
      expectGraphInvalid(() => g.op("Relu", [x], {}, { outputNames: ["x"] }), 'node "Relu_0" output "x" reuses a name already in graph "dup"');
      expectGraphInvalid(() => g.opMulti("TopK", [x, x], 2, {}, { outputNames: ["a", "a"] }), 'node "TopK_0" names two outputs "a"');
      g.output(x, "y", "float32");
      expectGraphInvalid(() => g.output(x, "y", "float32"), 'graph output "y" is declared twice');
      g.input("z", "float32", [1]);
      expectGraphInvalid(() => g.output(x, "z", "float32"), 'graph output "z" reuses a name already in graph "dup"');
    });

    it("rejects an output that is never produced, and a graph without outputs", () => {
      const g = new GraphBuilder({ name: "out" });
      g.input("x", "float32", [1]);
      expectGraphInvalid(() => g.output(new Value("nope"), "y", "float32"), 'graph output "y" refers to "nope", which no input, constant or node produces');
      expectGraphInvalid(() => g.build(), 'graph "out" has no outputs');
    });

    it("rejects plain numbers for float attributes and fractions for int attributes", () => {
      const g = new GraphBuilder({ name: "attrs" });
      const x = g.input("x", "float32", [2, 2]);
      expectGraphInvalid(
        () => g.op("Gemm", [x, x], { alpha: 1 }),
        'attribute "alpha" of Gemm is a float: write attr.float(...) so it is not stored as an integer',
      );
      expectGraphInvalid(
        () => g.op("Foo", [x], { ratio: 0.5 }),
        'attribute "ratio" of Foo holds 0.5, which is not an integer: use attr.float/attr.floats for floats',
      );
      // The rejected calls claimed no names: the auto-named node can still be added.
      g.output(g.op("Relu", [x]), "y", "float32");
      assert.deepEqual(
        onnx.ModelProto.decode(g.build()).graph?.node?.map((n) => n.name),
        ["Relu_0", "Identity_1"],
      );
    });

    it("rejects constant data that does not fit its dims", () => {
      const g = new GraphBuilder({ name: "c" });
      expectGraphInvalid(() => g.constantFloat("w", [1, 2, 3], [2, 2]), 'constant "w" has 3 values, which does not fit dims [2,2]');
      expectGraphInvalid(() => g.constantInt64("s", [1.5]), 'constant "s" holds 1.5, which is not an integer');
    });
  });
});
