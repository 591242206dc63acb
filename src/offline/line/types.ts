/** What `defect-detection line` is asked to run, and what it reports. */
import type { MvtecDataset } from "../eval/mvtec-dataset";
import type { LabelledDefect } from "../eval/defect-aware-data";
import type { PreprocessOptions } from "../../lib/image";
import type { AccuracyFigures } from "./metrics";

export interface LinePlan {
  dataset: MvtecDataset;
  /** Square side of the tensors and of the grid pixel metrics are computed on. */
  size: number;
  /** Node fields as the editor saves them (strings); fields left out take the node's defaults. */
  preprocess: Readonly<Record<string, string>>;
  detector: Readonly<Record<string, string>>;
  /** Images taught with msg.learn, in order; empty for models trained elsewhere. */
  learn: readonly string[];
  /**
   * Labelled defects confirmed to the detector after learning (msg.confirm "defect" with the image,
   * and its mask or boxes where the dataset has them), before the threshold calibrates.
   */
  defects: readonly LabelledDefect[];
  /**
   * Images sent with msg.calibrate (training images only); empty where the threshold calibrates
   * from the good scores the detector hands over with its fit (PatchCore, unsupervised).
   */
  calibration: readonly string[];
  /** Whether the calibration images were held back from learning (else they are learned ones). */
  calibrationHeldOut: boolean;
  /** The threshold's false-reject rate in percent (its frr field); undefined = the node's default (1 %). */
  frr?: number;
  /** An ONNX backbone to time a plain session.run of; undefined without one. */
  rawBackbone?: { file: string; layers: readonly string[]; threads?: number; preprocess: PreprocessOptions };
  /** msg.preprocess for one image, where the preprocessing depends on the image. */
  preprocessFor?: (path: string) => Promise<Readonly<Record<string, unknown>> | undefined>;
  /** One line of progress at a time (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Node-RED's warnings and errors. */
  log?: (line: string) => void;
}

export interface LineReport extends AccuracyFigures {
  dataset: string;
  node_red: string;
  train_images: number;
  /** Good scores the threshold calibrated on. */
  calibration_images: number;
  /** "leave-one-out": the detector's handed-over scores of the images it learned; else images sent to the threshold. */
  calibration: "leave-one-out" | "held-out" | "learned";
  /** Test images inspected (each once one at a time, and once more in the stream). */
  images: number;
  test_images: number;
  threshold: number;
  /** The false-reject rate the threshold node promised for good parts it was not calibrated on (its `frr` field, 1 % by default); compare with `calibrated_frr`. */
  promised_frr: number | null;
  /** Median of each node's msg.timings over the one-at-a-time phase. */
  ms_split: Readonly<Record<string, number>>;
  ms_per_image_p50: number;
  ms_per_image_p99: number;
  /**
   * Per image, the preprocess and detector nodes' own times added up (their msg.timings): what
   * `eval` times, measured in this run image by image, so its ratio to ms_per_image_p50 does not
   * move with the machine's speed between two runs. null where a node reported no time.
   */
  engine_ms_per_image_p50: number | null;
  images_per_second: number;
  /** Images in flight during the stream. */
  stream_window: number;
  /** Stream images dropped by a full queue (queueFull at Catch); the window is sized to make this 0. */
  dropped: number;
  /** Alarm events (output 1 of the alarm node) over both phases. */
  alarms: number;
  event_loop_delay_p99_ms: number | null;
  event_loop_delay_max_ms: number | null;
  /**
   * The same while the line learns (images in, the fit, the scores handed over): not the bar the
   * inspection figures answer to, but what a flow beside a line that is being taught sees.
   */
  learning_event_loop_delay_p99_ms: number | null;
  learning_event_loop_delay_max_ms: number | null;
  rss_peak_mb: number;
  raw_backbone_ms: number | null;
  /** Learning (feeding the images and the fit the last one waits for), seconds. */
  fit_seconds: number;
  /** Labelled defects confirmed to the detector (`--defect-shots`), 0 without. */
  defect_shots: number;
  /** Where their regions came from: "mask", "boxes", "none" (image label only), joined with "+" when mixed; null without. */
  defect_regions: string | null;
  /** Confirming them (each answered once the detector's head that holds it scores), seconds. */
  confirm_seconds: number;
  /** What the detector says it fitted (bank size, images, variants...). */
  model: Readonly<Record<string, string | number>> | null;
}
