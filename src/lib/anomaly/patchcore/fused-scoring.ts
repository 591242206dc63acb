/**
 * A bank's fused scoring model (scoring-model.ts) chained to the backbone that feeds it: built
 * for the backbone's layer shapes on first use, loaded beside the backbone's session so that
 * one exchange with that worker scores an image.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import type { LayerShape } from "../../features/patch-head";
import type { PatchEmbedding } from "../../features/types";
import type { Tensor } from "../../image/types";
import { acquireModelFromBytes, runChain, type ModelHandle, type SessionOptions } from "../../onnx";
import type { MemoryBank } from "./patchcore";
import { buildScoringModel, SCORING_OUTPUTS } from "./scoring-model";

/** What the fused path needs of a backbone: its session, its input and the layers' shapes. */
export interface FusableBackbone {
  model: ModelHandle;
  inputName: string;
  /** Output names, finest first. */
  layers: readonly string[];
  /** Each layer's shape for this input size (known once the backbone has run). */
  shapes: readonly LayerShape[];
  /** The patch head's average-pooling size. */
  pool: number;
}

export interface FusedRun {
  /** Each patch's distance to its nearest bank row, on the grid. */
  distances: Float32Array;
  worstPatch: number;
  worstRow: Float32Array;
  /** Bank rows nearest to the worst patch's nearest row, itself first. */
  support: Int32Array;
  embedding?: PatchEmbedding;
  backboneMs: number;
  scoringMs: number;
}

let built = 0;

function shapesKey(backbone: FusableBackbone): string {
  return `${backbone.pool}:${backbone.shapes.map((s) => `${s.channels}x${s.height}x${s.width}`).join("+")}`;
}

function data<T>(outputs: Record<string, ort.Tensor>, name: string): T {
  const tensor = outputs[name];
  if (tensor === undefined) throw new DefectError("inferenceFailed", `the PatchCore scoring model gave no "${name}"`, { output: name });
  return tensor.data as T;
}

export class FusedScoring {
  private model: Promise<ModelHandle> | undefined;
  private key = "";

  constructor(
    private readonly searchBank: Float32Array,
    private readonly bank: MemoryBank,
    private readonly neighbours: number,
    private readonly session: SessionOptions | undefined,
  ) {}

  async run(backbone: FusableBackbone, tensor: Tensor, withEmbedding: boolean): Promise<FusedRun> {
    const model = await this.modelFor(backbone);
    const outputNames: string[] = [SCORING_OUTPUTS.distances, SCORING_OUTPUTS.worst, SCORING_OUTPUTS.worstRow, SCORING_OUTPUTS.support];
    if (withEmbedding) outputNames.push(SCORING_OUTPUTS.embedding);
    const { outputs, ms } = await runChain([
      { model: backbone.model, feeds: { [backbone.inputName]: new ort.Tensor("float32", tensor.data, tensor.dims) }, outputNames: [...backbone.layers] },
      { model, from: Object.fromEntries(backbone.layers.map((layer, i) => [`in${i}`, layer])), outputNames },
    ]);
    const first = backbone.shapes[0] as LayerShape;
    const dim = backbone.shapes.reduce((sum, s) => sum + s.channels, 0);
    const patches = first.height * first.width;
    return {
      distances: data<Float32Array>(outputs, SCORING_OUTPUTS.distances),
      worstPatch: Number(data<BigInt64Array>(outputs, SCORING_OUTPUTS.worst)[0]),
      worstRow: data<Float32Array>(outputs, SCORING_OUTPUTS.worstRow),
      support: Int32Array.from(data<BigInt64Array>(outputs, SCORING_OUTPUTS.support), Number),
      ...(withEmbedding ? { embedding: { data: data<Float32Array>(outputs, SCORING_OUTPUTS.embedding), patches, dim, gridHeight: first.height, gridWidth: first.width } } : {}),
      backboneMs: ms[0] ?? 0,
      scoringMs: ms[1] ?? 0,
    };
  }

  private modelFor(backbone: FusableBackbone): Promise<ModelHandle> {
    const key = shapesKey(backbone);
    if (this.model !== undefined && key === this.key) return this.model;
    const previous = this.model;
    this.key = key;
    const projection = this.bank.projection === null ? undefined : { matrix: this.bank.projection, outDim: this.bank.projection.length / this.bank.dim };
    const bytes = buildScoringModel({ layers: backbone.shapes, pool: backbone.pool, searchBank: this.searchBank, size: this.bank.size, projection, neighbours: this.neighbours });
    const loading = acquireModelFromBytes(`patchcore-scoring:${++built}:${this.bank.size}`, bytes, this.session, { beside: backbone.model });
    this.model = loading;
    loading.catch(() => {
      if (this.model === loading) this.model = undefined;
    });
    void previous?.then((m) => m.release(), () => undefined);
    return loading;
  }

  async release(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    await model?.then((m) => m.release(), () => undefined);
  }
}
