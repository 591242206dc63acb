/**
 * YOLOv8/11-seg post-processing: boxes from `output0`, one binary mask per kept box from the
 * prototypes in `output1`, and a per-pixel defect score map.
 *
 * Ultralytics' `process_mask` does: logits = coeffs @ protos (proto resolution, 1/4 of the
 * tensor), crop to the box scaled to proto pixels, bilinear upsample to the tensor
 * (align_corners=False), threshold (sigmoid > 0.5, or logits > 0 in newer code), then undo
 * the letterbox with a second resize of the binary mask. Where this module differs, and why:
 * - It upsamples first and crops after, at the resolution of the result, as Ultralytics'
 *   `process_mask_native` (retina masks) does: cropping at 1/4 resolution blurs the box edge
 *   over several pixels once upsampled.
 * - It thresholds the upsampled logits at 0 rather than sigmoids at 0.5 (the same test, as
 *   sigmoid is monotonic), so no exp is spent on any pixel.
 * - Original-image masks sample the proto logits bilinearly at each source pixel's position in
 *   the tensor, instead of resizing the tensor-resolution binary mask: the same interpolation
 *   composed once, without the staircase a second resize of a 0/1 mask leaves. The pass at
 *   tensor resolution still happens, for the score map.
 * - A pixel is inside a box when its centre is (pixel i covers [i, i + 1)); Ultralytics compares
 *   the pixel index, which shifts its crop by half a pixel.
 * - Logits are computed only in the window of proto pixels the box's samples read, not for all
 *   h*w: everything outside is cropped away anyway.
 * Masks cover only their box (the InstanceMask contract), so 300 instances on a 12 MP image stay
 * small; one full-size scratch mask at tensor resolution serves the score map.
 */
import { DefectError } from "../errors";
import type { ScoreMap, Transform } from "../image/types";
import { placeBox } from "./detect-boxes";
import { type Crop, type Prototypes, type TensorBox, axisTable, centresIn, clearCrop, copyCrop, logitWindow, raiseUnderMask, rasterise } from "./mask-raster";
import { defaultClassName } from "./names";
import { nonMaxSuppression } from "./nms";
import type { RawOutput } from "./semantic";
import type { Box, Candidate, InstanceMask } from "./types";
import { decodeYoloV8 } from "./yolo-decode";

export interface InstanceSegmentationOptions {
  /** Number of classes (the rows between the box and the mask coefficients). */
  nc: number;
  confidence: number;
  iou: number;
  maxDetections: number;
  names: readonly string[];
}

export interface InstanceSegmentation {
  /** Kept boxes, best first; in original pixels when a transform is given, else tensor pixels. */
  boxes: Box[];
  /** One mask a box, same order. */
  masks: InstanceMask[];
  /** Max over instances of the box score inside its mask, at tensor resolution (0 elsewhere). */
  map: ScoreMap;
}

/** [1, 32, h, w]: batch, mask coefficients, height, width. */
const PROTO_RANK = 4;

type Size = { width: number; height: number };

export function decodeInstanceSegmentation(
  preds: RawOutput,
  protos: RawOutput,
  options: InstanceSegmentationOptions,
  tensorSize: Size,
  transform?: Transform,
): InstanceSegmentation {
  const proto = checkPrototypes(protos);
  const candidates = decodeYoloV8(preds.data, preds.dims, options.nc, proto.count, options.confidence);
  const kept = nonMaxSuppression(candidates, options.iou, options.maxDetections, true);
  const { width: W, height: H } = tensorSize;
  const map = new Float32Array(W * H);
  // Proto pixels per tensor pixel (1/4 for Ultralytics, taken from the shapes rather than assumed).
  const rx = proto.width / W;
  const ry = proto.height / H;
  const tensorCols = axisTable(W, 1, 0, rx, proto.width);
  const tensorRows = axisTable(H, 1, 0, ry, proto.height);
  const source =
    transform === undefined
      ? null
      : {
          size: transform.source,
          // Source pixel i sits at tensor (i + 0.5 - roi.x) * scaleX + offsetX.
          cols: axisTable(transform.source.width, transform.scaleX, transform.offsetX - transform.roi.x * transform.scaleX, rx, proto.width),
          rows: axisTable(transform.source.height, transform.scaleY, transform.offsetY - transform.roi.y * transform.scaleY, ry, proto.height),
        };
  // One tensor mask reused for the map, cleared crop by crop.
  const scratch = new Uint8Array(W * H);

  const nameOf = (index: number) => options.names[index] ?? defaultClassName(index);
  const boxes: Box[] = [];
  const masks: InstanceMask[] = [];
  for (const candidate of kept) {
    // Boxes wholly in the letterbox padding are dropped, as detection drops them.
    const box = placeBox(candidate, nameOf, tensorSize, transform);
    if (box === null) continue;
    const tensorBox = clipBox(candidate, W, H);
    const window = logitWindow(proto, coefficientsOf(candidate, proto), tensorBox, rx, ry);
    const tensorCrop: Crop = { cols: centresIn(tensorBox.x1, tensorBox.x2, W), rows: centresIn(tensorBox.y1, tensorBox.y2, H) };
    rasterise(window, tensorCols, tensorRows, tensorCrop, W, scratch);
    raiseUnderMask(map, scratch, tensorCrop, W, box.score);
    boxes.push(box);
    if (source === null) {
      masks.push({ box, ...cropOrigin(tensorCrop), mask: copyCrop(scratch, tensorCrop, W) });
      clearCrop(scratch, tensorCrop, W);
      continue;
    }
    clearCrop(scratch, tensorCrop, W);
    const { width: sw, height: sh } = source.size;
    const sourceCrop: Crop = { cols: centresIn(box.x1, box.x2, sw), rows: centresIn(box.y1, box.y2, sh) };
    const local = cropOrigin(sourceCrop);
    const mask = new Uint8Array(local.width * local.height);
    rasterise(window, source.cols, source.rows, sourceCrop, local.width, mask, local);
    masks.push({ box, ...local, mask });
  }
  return { boxes, masks, map: { data: map, width: W, height: H } };
}

function cropOrigin(crop: Crop): { x: number; y: number; width: number; height: number } {
  return { x: crop.cols.start, y: crop.rows.start, width: crop.cols.end - crop.cols.start, height: crop.rows.end - crop.rows.start };
}

function checkPrototypes(protos: RawOutput): Prototypes {
  const dims = protos.dims;
  const [batch, count, height, width] = dims;
  const ok =
    dims.length === PROTO_RANK &&
    batch === 1 &&
    count !== undefined &&
    height !== undefined &&
    width !== undefined &&
    count >= 1 &&
    height >= 1 &&
    width >= 1 &&
    protos.data.length === count * height * width;
  if (!ok) {
    throw new DefectError(
      "inferenceFailed",
      `YOLO-seg prototype output must be [1, masks, h, w] with masks*h*w values, got [${dims.join(",")}] holding ${protos.data.length} values`,
      { dims: dims.join(","), length: protos.data.length },
    );
  }
  return { data: protos.data, count: count!, width: width!, height: height! };
}

function coefficientsOf(candidate: Candidate, proto: Prototypes): Float32Array {
  const c = candidate.extra;
  if (c === null || c.length !== proto.count) {
    throw new DefectError("inferenceFailed", `YOLO-seg candidate carries ${c?.length ?? 0} mask coefficients, the prototypes need ${proto.count}`, {
      expected: proto.count,
      actual: c?.length ?? 0,
    });
  }
  return c;
}

/** The candidate's box clipped to the tensor (boxes may reach past the border). */
function clipBox(c: Candidate, W: number, H: number): TensorBox {
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  return { x1: clip(c.x1, W), y1: clip(c.y1, H), x2: clip(c.x2, W), y2: clip(c.y2, H) };
}
