/**
 * A small typed builder for ONNX models, so tests and in-memory detectors can be written
 * as code instead of shipping binary .onnx files. Values are single-assignment handles and
 * every mistake (unknown or duplicate name, missing output) throws at the call that made
 * it, where the stack trace still points at the culprit.
 */
import { onnx } from "onnx-proto";
import { DefectError } from "../errors";

/** IR 8 is the newest that onnx-proto 8 (ONNX 1.10 schema) describes, and it carries opset 17. */
const IR_VERSION = 8;
const DEFAULT_OPSET = 17;
/** Contrib-op domains in onnxruntime have a single version so far. */
const CUSTOM_DOMAIN_OPSET = 1;
const PRODUCER_NAME = "node-red-contrib-defect-detection";

/** Element types, spelled as onnxruntime spells `Tensor.type`, so specs and feeds compare directly. */
export type ElementType = "float32" | "float64" | "float16" | "int8" | "uint8" | "int16" | "uint16" | "int32" | "int64" | "bool";

const ONNX_TYPES: Record<ElementType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int16: onnx.TensorProto.DataType.INT16,
  uint16: onnx.TensorProto.DataType.UINT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** A fixed size, or a symbolic name such as "height" that any size matches. */
export type Dim = number | string;

/** Constant data; the element type follows from the array class. */
export type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

/** Handle to a value in one builder's graph: a graph input, an initializer or a node output. */
export class Value {
  constructor(readonly name: string) {}
}

/**
 * ONNX attributes are typed, and a JS number cannot say whether it is INT or FLOAT (Gemm's
 * `alpha: 1` must be FLOAT, Conv's `pads` INTS). So plain numbers are always INT/INTS and
 * floats are spelled with `attr.float` / `attr.floats`.
 */
export interface FloatAttribute {
  readonly kind: "float";
  readonly value: number;
}
export interface FloatsAttribute {
  readonly kind: "floats";
  readonly values: readonly number[];
}
export interface TensorAttribute {
  readonly kind: "tensor";
  readonly data: TensorData;
  readonly dims: readonly number[];
}
export type AttributeValue = number | readonly number[] | string | readonly string[] | FloatAttribute | FloatsAttribute | TensorAttribute;
export type Attributes = Readonly<Record<string, AttributeValue>>;

export const attr = {
  float: (value: number): FloatAttribute => ({ kind: "float", value }),
  floats: (values: readonly number[]): FloatsAttribute => ({ kind: "floats", values: [...values] }),
  tensor: (data: TensorData, dims: readonly number[]): TensorAttribute => ({ kind: "tensor", data, dims: [...dims] }),
};

/**
 * Float attributes of common operators: a plain number there would silently become an INT
 * that onnxruntime rejects at load time with a far less helpful message.
 */
const FLOAT_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  Gemm: ["alpha", "beta"],
  LeakyRelu: ["alpha"],
  Elu: ["alpha"],
  Selu: ["alpha", "gamma"],
  HardSigmoid: ["alpha", "beta"],
  BatchNormalization: ["epsilon", "momentum"],
  InstanceNormalization: ["epsilon"],
  LayerNormalization: ["epsilon"],
  Resize: ["cubic_coeff_a", "extrapolation_value"],
};

export interface GraphOptions {
  name: string;
  /** Default-domain opset version (17 unless given). */
  opset?: number;
}

export interface OpOptions {
  /** Node name; defaults to the op type and a counter. */
  name?: string;
  /** Names for the node outputs, e.g. to produce a graph output directly. */
  outputNames?: readonly string[];
  domain?: string;
}

export class GraphBuilder {
  private readonly graphName: string;
  private readonly opset: number;
  private readonly names = new Set<string>();
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly nodes: onnx.INodeProto[] = [];
  private nodeCount = 0;

  constructor(options: GraphOptions) {
    this.graphName = options.name;
    this.opset = options.opset ?? DEFAULT_OPSET;
  }

  input(name: string, type: ElementType, shape: readonly Dim[]): Value {
    this.claim(name, "graph input");
    this.inputs.push(valueInfo(name, type, shape));
    return new Value(name);
  }

  /** An initializer; int64 data (Reshape shapes, Resize sizes) as BigInt64Array or via `constantInt64`. */
  constant(name: string, data: TensorData, dims: readonly number[]): Value {
    this.claim(name, "constant");
    this.initializers.push(tensorProto(name, data, dims, `constant "${name}"`));
    return new Value(name);
  }

  /** Float32 constant; 1-D of the values' length unless dims are given ([] for a scalar). */
  constantFloat(name: string, values: readonly number[] | Float32Array, dims?: readonly number[]): Value {
    return this.constant(name, Float32Array.from(values), dims ?? [values.length]);
  }

  /** Int64 constant from plain integers; 1-D of the values' length unless dims are given. */
  constantInt64(name: string, values: readonly number[], dims?: readonly number[]): Value {
    const data = BigInt64Array.from(values, (v) => {
      if (!Number.isSafeInteger(v)) throw invalid(`constant "${name}" holds ${v}, which is not an integer`, { name });
      return BigInt(v);
    });
    return this.constant(name, data, dims ?? [values.length]);
  }

  /** A node with one output. `null` inputs mark omitted optional inputs (e.g. Resize's roi). */
  op(opType: string, inputs: ReadonlyArray<Value | null>, attributes: Attributes = {}, options: OpOptions = {}): Value {
    const [output] = this.opMulti(opType, inputs, 1, attributes, options);
    if (output === undefined) throw invalid(`${opType} produced no output`, { op: opType });
    return output;
  }

  /** A node with several outputs, e.g. TopK (values, indices). */
  opMulti(opType: string, inputs: ReadonlyArray<Value | null>, outputCount: number, attributes: Attributes = {}, options: OpOptions = {}): Value[] {
    const nodeName = options.name ?? `${opType}_${this.nodeCount}`;
    for (const input of inputs) {
      if (input !== null && !this.names.has(input.name)) {
        throw invalid(`node "${nodeName}" (${opType}) uses unknown value "${input.name}"`, { node: nodeName, value: input.name });
      }
    }
    if (options.outputNames !== undefined && options.outputNames.length !== outputCount) {
      throw invalid(`node "${nodeName}" has ${outputCount} outputs but ${options.outputNames.length} output names`, { node: nodeName });
    }
    const outputNames = Array.from({ length: outputCount }, (_, i) => options.outputNames?.[i] ?? (outputCount === 1 ? nodeName : `${nodeName}_${i}`));
    // Check everything before claiming any name, so a rejected call leaves the graph unchanged.
    const attribute = Object.entries(attributes).map(([key, value]) => attributeProto(opType, key, value));
    outputNames.forEach((name, i) => {
      if (outputNames.indexOf(name) !== i) throw invalid(`node "${nodeName}" names two outputs "${name}"`, { node: nodeName, name });
      this.checkFree(name, `node "${nodeName}" output`);
    });
    for (const name of outputNames) this.claim(name, `node "${nodeName}" output`);
    this.nodeCount += 1;
    this.nodes.push({
      name: nodeName,
      opType,
      domain: options.domain ?? "",
      input: inputs.map((v) => v?.name ?? ""),
      output: outputNames,
      attribute,
    });
    return outputNames.map((name) => new Value(name));
  }

  /**
   * Declares a graph output. A different `name` than the value's adds an Identity node, so
   * handles stay valid and inputs can be passed through.
   */
  output(value: Value, name: string, type: ElementType, shape?: readonly Dim[]): void {
    if (!this.names.has(value.name)) {
      throw invalid(`graph output "${name}" refers to "${value.name}", which no input, constant or node produces`, { output: name, value: value.name });
    }
    if (this.outputs.some((o) => o.name === name)) throw invalid(`graph output "${name}" is declared twice`, { output: name });
    if (name !== value.name) this.checkFree(name, "graph output");
    const source = name === value.name ? value : this.op("Identity", [value], {}, { outputNames: [name] });
    this.outputs.push(valueInfo(source.name, type, shape));
  }

  build(): Uint8Array {
    if (this.outputs.length === 0) throw invalid(`graph "${this.graphName}" has no outputs`, { graph: this.graphName });
    const model: onnx.IModelProto = {
      irVersion: IR_VERSION,
      producerName: PRODUCER_NAME,
      opsetImport: [{ domain: "", version: this.opset }, ...this.customDomains().map((domain) => ({ domain, version: CUSTOM_DOMAIN_OPSET }))],
      graph: {
        name: this.graphName,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
        node: this.nodes,
      },
    };
    return onnx.ModelProto.encode(model).finish();
  }

  /** Domains of contrib ops (e.g. com.microsoft), which ORT only resolves when imported. */
  private customDomains(): string[] {
    return [...new Set(this.nodes.map((n) => n.domain ?? "").filter((d) => d !== ""))];
  }

  private checkFree(name: string, what: string): void {
    if (name === "") throw invalid(`${what} needs a non-empty name`, { name });
    if (this.names.has(name)) throw invalid(`${what} "${name}" reuses a name already in graph "${this.graphName}"`, { name });
  }

  private claim(name: string, what: string): void {
    this.checkFree(name, what);
    this.names.add(name);
  }
}

function invalid(message: string, details: Record<string, string>): DefectError {
  return new DefectError("graphInvalid", message, details);
}

function valueInfo(name: string, type: ElementType, shape: readonly Dim[] | undefined): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: ONNX_TYPES[type] };
  if (shape !== undefined) {
    tensorType.shape = { dim: shape.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) };
  }
  return { name, type: { tensorType } };
}

function elementTypeOf(data: TensorData): ElementType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int32Array) return "int32";
  return "int64";
}

/** Raw little-endian bytes, as ONNX requires whatever the host byte order. */
/** ONNX raw data is little-endian, as every platform onnxruntime-node ships for. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function rawBytes(data: TensorData): Uint8Array {
  // A plain copy: per-value conversion of a 40,000 x 1,536 bank takes over a second.
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const bytes = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  data.forEach((value: number | bigint, i: number) => {
    const offset = i * data.BYTES_PER_ELEMENT;
    if (typeof value === "bigint") view.setBigInt64(offset, value, true);
    else if (data instanceof Float32Array) view.setFloat32(offset, value, true);
    else if (data instanceof Float64Array) view.setFloat64(offset, value, true);
    else if (data instanceof Int32Array) view.setInt32(offset, value, true);
    else if (data instanceof Int8Array) view.setInt8(offset, value);
    else view.setUint8(offset, value);
  });
  return bytes;
}

function tensorProto(name: string, data: TensorData, dims: readonly number[], what: string): onnx.ITensorProto {
  const count = dims.reduce((product, d) => product * d, 1);
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || count !== data.length) {
    throw invalid(`${what} has ${data.length} values, which does not fit dims [${dims.join(",")}]`, { name });
  }
  return { name, dims: [...dims], dataType: ONNX_TYPES[elementTypeOf(data)], rawData: rawBytes(data) };
}

function attributeProto(opType: string, name: string, value: AttributeValue): onnx.IAttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  const where = `attribute "${name}" of ${opType}`;
  if (typeof value === "string") return { name, type: Type.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === "number" || isNumberArray(value)) {
    if (FLOAT_ATTRIBUTES[opType]?.includes(name) === true) {
      throw invalid(`${where} is a float: write attr.float(...) so it is not stored as an integer`, { op: opType, attribute: name });
    }
    const ints = typeof value === "number" ? [value] : value;
    const bad = ints.find((v) => !Number.isSafeInteger(v));
    if (bad !== undefined)
      throw invalid(`${where} holds ${bad}, which is not an integer: use attr.float/attr.floats for floats`, { op: opType, attribute: name });
    return typeof value === "number" ? { name, type: Type.INT, i: value } : { name, type: Type.INTS, ints: [...value] };
  }
  if (isStringArray(value)) return { name, type: Type.STRINGS, strings: value.map((s) => new TextEncoder().encode(s)) };
  switch (value.kind) {
    case "float":
      return { name, type: Type.FLOAT, f: value.value };
    case "floats":
      return { name, type: Type.FLOATS, floats: [...value.values] };
    case "tensor":
      return { name, type: Type.TENSOR, t: tensorProto("", value.data, value.dims, where) };
  }
}

/** An empty array counts as INTS: the common empty attribute is a list of axes or pads. */
function isNumberArray(value: AttributeValue): value is readonly number[] {
  return Array.isArray(value) && value.every((v) => typeof v === "number");
}

function isStringArray(value: AttributeValue): value is readonly string[] {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string");
}
