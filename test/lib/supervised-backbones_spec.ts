/**
 * The classification path on real ImageNet classifiers from ../shared/backbones (skipped when absent):
 * the package's top-1 class must be the one a direct session.run of the same tensor gives.
 */
import { strict as assert } from "node:assert";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { DEFAULT_MAX_PIXELS } from "../../src/lib/image/decode";
import { preprocessImage } from "../../src/lib/image/preprocess";
import { softmax } from "../../src/lib/supervised/classify";
import { openSupervisedModel } from "../../src/lib/supervised/model";

const SHARED = path.resolve(process.cwd(), "../shared");
const BACKBONES = path.join(SHARED, "backbones");
const IMAGE_DIRS = ["datasets/casting/test/good", "datasets/casting/test/def_front", "datasets/magnetic_tile/test/crack", "datasets/deeppcb/test/defect"];
const IMAGES = 5;
/** Both backbones take `input` [N,3,H,W] RGB with ImageNet mean/std (../shared/README.md). */
const MODELS = [
  { file: "mobilenetv2_float.onnx", outputName: "logits" },
  { file: "squeezenet1_1.onnx", outputName: undefined },
] as const;

async function pickImages(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of IMAGE_DIRS) {
    const full = path.join(SHARED, dir);
    if (!existsSync(full)) continue;
    const files = (await fs.readdir(full)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    found.push(...files.slice(0, 2).map((f) => path.join(full, f)));
  }
  return found.slice(0, IMAGES);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

describe("supervised: classification on the ImageNet backbones in ../shared", function () {
  this.timeout(120000);

  for (const spec of MODELS) {
    it(`${spec.file}: same top-1 class as a direct session.run for ${IMAGES} images`, async function () {
      const file = path.join(BACKBONES, spec.file);
      if (!existsSync(file)) {
        console.log(`      (skipped: ${file} not found)`);
        this.skip();
      }
      const classNames = JSON.parse(await fs.readFile(path.join(BACKBONES, "imagenet_classes.json"), "utf8")) as string[];
      const images = await pickImages();
      assert.equal(images.length, IMAGES, "test images in ../shared/datasets");
      const model = await openSupervisedModel(file, {
        task: "classify",
        classNames,
        topK: 3,
        ...(spec.outputName === undefined ? {} : { outputName: spec.outputName }),
      });
      const direct = await ort.InferenceSession.create(file);
      try {
        assert.deepEqual(
          {
            w: model.preprocess.width,
            h: model.preprocess.height,
            resize: model.preprocess.resize,
            mean: model.preprocess.mean,
            std: model.preprocess.std,
            names: model.names.length,
          },
          { w: 224, h: 224, resize: "stretch", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], names: 1000 },
        );
        for (const image of images) {
          const { tensor, transform } = await preprocessImage(await fs.readFile(image), model.preprocess, { maxPixels: DEFAULT_MAX_PIXELS });
          const result = await model.predict(tensor, transform);
          const raw = await direct.run({ input: new ort.Tensor("float32", tensor.data, tensor.dims) });
          const logits = raw["logits"]!.data as Float32Array;
          const expected = argmax(logits);
          const top = result.classes[0]!;
          assert.equal(top.class, expected, `${path.basename(image)}: top-1 class`);
          assert.equal(top.name, classNames[expected]);
          assert.ok(Math.abs(top.score - softmax(logits)[expected]!) < 1e-5, `${path.basename(image)}: top-1 probability`);
          assert.equal(result.classes.length, 3);
        }
      } finally {
        await model.release();
        await direct.release();
      }
    });
  }
});
