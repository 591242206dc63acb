/**
 * A bank's fused scoring model (scoring-model.ts) chained to the backbone that feeds it: built
 * for the backbone's layer shapes on first use, loaded beside the backbone's session so that
 * one exchange with that worker scores an image.
 */
import * as ort from "onnxruntime-node";
import { DefectError } from "../../errors";
import { layerShapes, poolKey, type LayerShape, type PoolWindows } from "../../features/patch-head";
import type { FeatureMap, PatchEmbedding } from "../../features/types";
import type { ScoreMap, Tensor } from "../../image/types";
import { runChain, type ChainLink, type ModelHandle, type SessionOptions } from "../../onnx";
import { acquireExposureGraph, EXPOSURE_INPUT, EXPOSURE_OUTPUT } from "../../features/exposure-graph";
import type { TensorNormalisation } from "../../image/exposure";
import { tensorSize } from "../../image/tensor";
import type { MemoryBank } from "./patchcore";
import { acquireBankGraph } from "./bank-graphs";
import { SCORING_OUTPUTS, type ScoringModelSpec } from "./scoring-model";

/** What the fused path needs of a backbone: its session, its input and the layers' shapes. */
export interface FusableBackbone {
  model: ModelHandle;
  inputName: string;
  /** Output names, finest first. */
  layers: readonly string[];
  /** Each layer's shape for this input size; undefined until the backbone has run once. */
  shapes: readonly LayerShape[] | undefined;
  /** The layer outputs of one image (the first, to learn the shapes). */
  extract(tensor: Tensor): Promise<FeatureMap[]>;
  /** Even out each tensor's exposure first, undoing this normalisation (even-exposure.ts): a graph run before the backbone, chained to it. */
  exposure?: TensorNormalisation;
  /** Keeps the shapes the first image showed, for the next images. */
  rememberShapes(shapes: readonly LayerShape[]): void;
  /** The patch head's average-pooling windows (one for all layers, or one a layer). */
  pool: PoolWindows;
}

/** The anomaly map the scoring also makes: at the tensor's size, blurred with `sigma`. */
export interface MapRequest {
  width: number;
  height: number;
  sigma: number;
}

export interface FusedRun {
  /** Each patch's distance to its nearest bank row, on the grid. */
  distances: Float32Array;
  gridWidth: number;
  worstPatch: number;
  worstRow: Float32Array;
  /** Bank rows nearest to the worst patch's nearest row, itself first. */
  support: Int32Array;
  embedding?: PatchEmbedding;
  map?: ScoreMap;
  /** The mean of the patch features (appearance.ts). */
  meanFeatures: Float32Array;
  backboneMs: number;
  scoringMs: number;
}

let built = 0;

function shapesKey(backbone: FusableBackbone & { shapes: readonly LayerShape[] }): string {
  // The pool size and every layer's shape: what the graph is built for.
  return `${poolKey(backbone.pool)}:${backbone.shapes.map((s) => `${s.channels}x${s.height}x${s.width}`).join("+")}`;
}

function data<T>(outputs: Record<string, ort.Tensor>, name: string): T {
  const tensor = outputs[name];
  if (tensor === undefined) throw new DefectError("inferenceFailed", `the PatchCore scoring model gave no "${name}"`, { output: name });
  return tensor.data as T;
}

export class FusedScoring {
  /** By variant (layer shapes, features or not, map size): usually one, two when parts are remembered. */
  private readonly models = new Map<string, Promise<ModelHandle>>();

  constructor(
    private readonly searchBank: Float32Array,
    private readonly bank: MemoryBank,
    private readonly neighbours: number,
    private readonly session: SessionOptions | undefined,
    /** Each patch's place weight (place-weights.ts), applied in the graph; null: none. */
    private readonly places: Float32Array | null = null,
  ) {}

  async run(backbone: FusableBackbone, tensor: Tensor, withEmbedding: boolean, map?: MapRequest): Promise<FusedRun> {
    const outputNames: string[] = [
      SCORING_OUTPUTS.distances,
      SCORING_OUTPUTS.worst,
      SCORING_OUTPUTS.worstRow,
      SCORING_OUTPUTS.support,
      SCORING_OUTPUTS.meanFeatures,
    ];
    if (withEmbedding) outputNames.push(SCORING_OUTPUTS.embedding);
    if (map !== undefined) outputNames.push(SCORING_OUTPUTS.map);
    let shapes = backbone.shapes;
    let outputs: Record<string, ort.Tensor>;
    let ms: number[];
    if (shapes === undefined) {
      // The first image: its layer maps tell the shapes the graph is built for; it is scored by
      // the same graph as every later image, so its score does not depend on being first.
      const t0 = performance.now();
      const maps = await backbone.extract(backbone.exposure === undefined ? tensor : await this.evened(backbone, backbone.exposure, tensor));
      const t1 = performance.now();
      shapes = layerShapes(maps);
      backbone.rememberShapes(shapes);
      const model = await this.modelFor({ ...backbone, shapes }, withEmbedding, map);
      const feeds = Object.fromEntries(maps.map((m, i) => [`in${i}`, new ort.Tensor("float32", m.data, [1, m.channels, m.height, m.width])]));
      const t2 = performance.now();
      outputs = await model.run(feeds, outputNames, { transferFeeds: true });
      ms = [t1 - t0, performance.now() - t2];
    } else {
      const model = await this.modelFor({ ...backbone, shapes }, withEmbedding, map);
      const input = new ort.Tensor("float32", tensor.data, tensor.dims);
      const layerOutputs = [...backbone.layers];
      const links: ChainLink[] =
        backbone.exposure === undefined
          ? [{ model: backbone.model, feeds: { [backbone.inputName]: input }, outputNames: layerOutputs }]
          : [
              { model: await this.exposureFor(backbone, backbone.exposure, tensor), feeds: { [EXPOSURE_INPUT]: input }, outputNames: [EXPOSURE_OUTPUT] },
              { model: backbone.model, from: { [backbone.inputName]: EXPOSURE_OUTPUT }, outputNames: layerOutputs },
            ];
      links.push({ model, from: Object.fromEntries(backbone.layers.map((layer, i) => [`in${i}`, layer])), outputNames });
      const chained = await runChain(links);
      outputs = chained.outputs;
      // The exposure graph's time counts as the backbone's: together they are what the image costs before scoring.
      ms = [chained.ms.slice(0, -1).reduce((a, b) => a + b, 0), chained.ms[chained.ms.length - 1] ?? 0];
    }
    const first = shapes[0] as LayerShape;
    const dim = shapes.reduce((sum, s) => sum + s.channels, 0);
    const patches = first.height * first.width;
    return {
      distances: data<Float32Array>(outputs, SCORING_OUTPUTS.distances),
      gridWidth: first.width,
      worstPatch: Number(data<BigInt64Array>(outputs, SCORING_OUTPUTS.worst)[0]),
      worstRow: data<Float32Array>(outputs, SCORING_OUTPUTS.worstRow),
      support: Int32Array.from(data<BigInt64Array>(outputs, SCORING_OUTPUTS.support), Number),
      meanFeatures: data<Float32Array>(outputs, SCORING_OUTPUTS.meanFeatures),
      ...(withEmbedding
        ? { embedding: { data: data<Float32Array>(outputs, SCORING_OUTPUTS.embedding), patches, dim, gridHeight: first.height, gridWidth: first.width } }
        : {}),
      ...(map === undefined ? {} : { map: { data: data<Float32Array>(outputs, SCORING_OUTPUTS.map), width: map.width, height: map.height } }),
      backboneMs: ms[0] ?? 0,
      scoringMs: ms[1] ?? 0,
    };
  }

  /**
   * Builds and loads the graph `run` would use, ahead of the first image, once the backbone's
   * layer shapes are known (after a fit); otherwise the first image builds it.
   */
  async prepare(backbone: FusableBackbone, withEmbedding: boolean, map?: MapRequest): Promise<void> {
    const shapes = backbone.shapes;
    if (shapes !== undefined) await this.modelFor({ ...backbone, shapes }, withEmbedding, map);
  }

  /** `tensor` evened out by the exposure graph alone (the first image, whose layer maps teach the shapes). */
  private async evened(backbone: FusableBackbone, norm: TensorNormalisation, tensor: Tensor): Promise<Tensor> {
    const model = await this.exposureFor(backbone, norm, tensor);
    const out = (await model.run({ [EXPOSURE_INPUT]: new ort.Tensor("float32", tensor.data, tensor.dims) }, [EXPOSURE_OUTPUT]))[EXPOSURE_OUTPUT];
    if (out === undefined) throw new DefectError("inferenceFailed", `the exposure graph gave no "${EXPOSURE_OUTPUT}"`, { output: EXPOSURE_OUTPUT });
    return { data: out.data as Float32Array, dims: [...tensor.dims], layout: tensor.layout };
  }

  /** The exposure graph for this backbone's tensors, loaded beside it once. */
  private exposureFor(backbone: FusableBackbone, norm: TensorNormalisation, tensor: Tensor): Promise<ModelHandle> {
    const { channels } = tensorSize(tensor);
    return this.cached(`exposure|${tensor.layout}|${channels}`, () =>
      acquireExposureGraph({ norm, channels, layout: tensor.layout }, backbone.model, this.session, { beside: backbone.model }),
    );
  }

  private modelFor(backbone: FusableBackbone & { shapes: readonly LayerShape[] }, embedding: boolean, map: MapRequest | undefined): Promise<ModelHandle> {
    const key = `${shapesKey(backbone)}|${embedding}|${map === undefined ? "-" : `${map.width}x${map.height}@${map.sigma}`}`;
    return this.cached(key, () => this.loadScoring(backbone, embedding, map));
  }

  private loadScoring(backbone: FusableBackbone & { shapes: readonly LayerShape[] }, embedding: boolean, map: MapRequest | undefined): Promise<ModelHandle> {
    const projection = this.bank.projection === null ? undefined : { matrix: this.bank.projection, outDim: this.bank.projection.length / this.bank.dim };
    const spec: ScoringModelSpec = {
      layers: backbone.shapes,
      pool: backbone.pool,
      searchBank: this.searchBank,
      size: this.bank.size,
      projection,
      neighbours: this.neighbours,
      embedding,
      ...(map === undefined ? {} : { map }),
      ...(this.places === null ? {} : { places: this.places }),
    };
    return acquireBankGraph(`patchcore-scoring:${++built}:${this.bank.size}`, { kind: "scoring", spec }, this.session, { beside: backbone.model });
  }

  /** One load per key while it lives; a failed load is forgotten, so the next image tries again. */
  private cached(key: string, load: () => Promise<ModelHandle>): Promise<ModelHandle> {
    const known = this.models.get(key);
    if (known !== undefined) return known;
    const loading = load();
    this.models.set(key, loading);
    loading.catch(() => {
      if (this.models.get(key) === loading) this.models.delete(key);
    });
    return loading;
  }

  async release(): Promise<void> {
    const models = [...this.models.values()];
    this.models.clear();
    await Promise.all(
      models.map((m) =>
        m.then(
          (model) => model.release(),
          () => undefined,
        ),
      ),
    );
  }
}
