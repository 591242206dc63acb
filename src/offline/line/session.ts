/**
 * The phases of a rehearsal on a started line: learning, calibrating the threshold, inspecting one
 * image at a time (with plain backbone runs in between) and as a stream.
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { preprocessImage, DEFAULT_MAX_PIXELS, type PreprocessOptions } from "../../lib/image";
import { LineFailure } from "./failure";
import { LINE_QUEUE_SIZE } from "./flow";
import type { LoopDelay } from "./probes";
import { pump, results } from "./pump";
import type { RawBackbone } from "./raw-backbone";
import { confirmationOf } from "./confirm";
import {
  inspectionReader,
  readCalibrationAnswer,
  readConfirmAnswer,
  readLearnAnswer,
  readStreamed,
  type CalibrationAnswer,
  type ConfirmAnswer,
  type Inspected,
  type LearnAnswer,
} from "./read";
import type { RuntimeNode } from "./runtime";
import { describeCaught, type LineTap, type Outcome, type Reader } from "./tap";
import type { LinePlan } from "./types";

/** One image through the whole line; generous, as a shared machine can be slow. */
const IMAGE_TIMEOUT_MS = 120_000;
/** The image that completes a learning round waits for the fit. */
const FIT_TIMEOUT_MS = 30 * 60_000;
/** A verdict with a region waits for the patch head's fit over every labelled part so far. */
const CONFIRM_TIMEOUT_MS = 10 * 60_000;
/** Learned images in flight: one decoding while one is embedded; learning is sequential anyway. */
const LEARN_WINDOW = 2;
/** Plain backbone runs timed, spread over the test images, between one-at-a-time inspections. */
const RAW_SAMPLES = 50;

export interface OneAtATime {
  records: Inspected[];
  /** Milliseconds from image source in to mask to region out. */
  latencies: number[];
  rawMs: number[];
}

export interface Streamed {
  perSecond: number;
  dropped: number;
}

export class LineSession {
  constructor(
    private readonly plan: LinePlan,
    private readonly source: RuntimeNode,
    private readonly tap: LineTap,
    private readonly loop: LoopDelay,
    private readonly learningLoop: LoopDelay,
  ) {}

  private say(line: string): void {
    this.plan.progress?.(line);
  }

  private async send<T>(file: string, extra: Record<string, unknown>, read: Reader<T>, timeoutMs: number): Promise<Outcome<T>> {
    const preprocess = await this.plan.preprocessFor?.(file);
    const msg = { filename: file, ...extra, ...(preprocess === undefined ? {} : { preprocess: { ...preprocess } }) };
    return this.tap.send(this.source, msg, read, timeoutMs, file);
  }

  /** `calibration`: the threshold's answer where it calibrated from the good scores the fit handed over. */
  async learn(): Promise<{ seconds: number; model: LearnAnswer["model"]; calibration: CalibrationAnswer | null }> {
    const files = this.plan.learn;
    if (files.length === 0) return { seconds: 0, model: null, calibration: null };
    const started = performance.now();
    this.say(`learning ${files.length} good images through the line`);
    this.learningLoop.resume();
    const outcomes = await pump(files.length, {
      window: LEARN_WINDOW,
      failFast: true,
      send: (i) => this.send(files[i] as string, { learn: true }, readLearnAnswer, i === files.length - 1 ? FIT_TIMEOUT_MS : IMAGE_TIMEOUT_MS),
      after: async (i) => {
        if ((i + 1) % 50 === 0) this.say(`learned ${i + 1}/${files.length}`);
      },
    }).finally(() => this.learningLoop.pause());
    const answers = results(outcomes, files, "learning");
    const model = answers.map((a) => a.value.model).find((m) => m !== null) ?? null;
    if (model === null) throw new LineFailure(`learning: the detector learned ${files.length} images but fitted no model`);
    const calibration = answers.map((a) => a.value.calibration).find((c) => c !== null) ?? null;
    const seconds = (performance.now() - started) / 1000;
    this.say(`fitted in ${seconds.toFixed(1)} s`);
    return { seconds, model, calibration };
  }

  /**
   * Confirms the labelled defects one after another, as an operator would at a rework station:
   * the image through the line with msg.confirm (and its region), each answered once learned.
   */
  async confirmDefects(): Promise<{ seconds: number; answer: ConfirmAnswer | null }> {
    const defects = this.plan.defects;
    if (defects.length === 0) return { seconds: 0, answer: null };
    const started = performance.now();
    this.say(`confirming ${defects.length} labelled defects to the detector`);
    const files = defects.map((d) => d.path);
    const outcomes = await pump(defects.length, {
      window: 1,
      failFast: true,
      send: async (i) => this.send(files[i] as string, { confirm: await confirmationOf(defects[i]!) }, readConfirmAnswer, CONFIRM_TIMEOUT_MS),
    });
    const answer = results(outcomes, files, "confirming defects").at(-1)?.value ?? null;
    const seconds = (performance.now() - started) / 1000;
    this.say(`confirmed in ${seconds.toFixed(1)} s`);
    return { seconds, answer };
  }

  async calibrate(): Promise<{ threshold: number; promisedFrr: number | null }> {
    const files = this.plan.calibration;
    this.say(`calibrating the threshold on ${files.length} ${this.plan.calibrationHeldOut ? "held-out" : "learned"} training images`);
    const outcomes = await pump(files.length, {
      window: 1,
      failFast: true,
      send: (i) => this.send(files[i] as string, { calibrate: true }, readCalibrationAnswer, IMAGE_TIMEOUT_MS),
    });
    const last = results(outcomes, files, "calibration").at(-1)?.value;
    const threshold = last?.threshold ?? null;
    if (threshold === null) throw new LineFailure(`calibration: the threshold node did not calibrate on ${files.length} images`);
    return { threshold, promisedFrr: last?.promisedFrr ?? null };
  }

  /** One image in flight; plain backbone runs in between, with the event-loop watch paused. */
  async oneAtATime(raw: RawBackbone | undefined, rawPreprocess: PreprocessOptions | undefined): Promise<OneAtATime> {
    const files = this.plan.dataset.test.map((s) => s.path);
    const read = inspectionReader(this.plan.dataset.hasMasks ? this.plan.size : 0);
    const step = Math.max(1, Math.floor(files.length / RAW_SAMPLES));
    const rawMs: number[] = [];
    this.say(`inspecting ${files.length} test images one at a time`);
    this.loop.resume();
    const outcomes = await pump(files.length, {
      window: 1,
      failFast: true,
      send: (i) => this.send(files[i] as string, {}, read, IMAGE_TIMEOUT_MS),
      after: async (i, outcome) => {
        if ((i + 1) % 100 === 0) this.say(`inspected ${i + 1}/${files.length}`);
        if (raw === undefined || rawPreprocess === undefined || outcome.kind !== "result" || i % step !== 0) return;
        this.loop.pause();
        const { tensor } = await preprocessImage(await readFile(files[i] as string), rawPreprocess, { maxPixels: DEFAULT_MAX_PIXELS });
        // The first run of a fresh session allocates its buffers: not what the line is compared with.
        if (rawMs.length === 0) await raw.time(tensor);
        rawMs.push(await raw.time(tensor));
        this.loop.resume();
      },
    });
    this.loop.pause();
    const done = results(outcomes, files, "inspection");
    return { records: done.map((o) => o.value), latencies: done.map((o) => o.at - o.sentAt), rawMs };
  }

  /** The queues kept full: a new image goes in whenever one comes out. */
  async stream(): Promise<Streamed> {
    const files = this.plan.dataset.test.map((s) => s.path);
    this.say(`streaming ${files.length} test images, ${LINE_QUEUE_SIZE} in flight`);
    this.loop.resume();
    const outcomes = await pump(files.length, {
      window: LINE_QUEUE_SIZE,
      failFast: false,
      send: (i) => this.send(files[i] as string, {}, readStreamed, IMAGE_TIMEOUT_MS * LINE_QUEUE_SIZE),
    });
    this.loop.pause();
    const done = outcomes.flatMap((o) => (o?.kind === "result" ? [o] : []));
    const caught = outcomes.flatMap((o, i) => (o?.kind === "caught" ? [{ o, file: files[i] as string }] : []));
    const failure = caught.find(({ o }) => o.code !== "queueFull");
    if (failure !== undefined) throw new LineFailure(`stream: ${describeCaught(failure.o, failure.file)}`);
    const first = Math.min(...outcomes.map((o) => o?.sentAt ?? Number.POSITIVE_INFINITY));
    const last = Math.max(...done.map((o) => o.at));
    return { perSecond: done.length === 0 ? 0 : (done.length * 1000) / (last - first), dropped: caught.length };
  }
}
