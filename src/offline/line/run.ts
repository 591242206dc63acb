/**
 * `defect-detection line`: the six nodes in an embedded Node-RED, run over a dataset as a plant
 * would run them. Learns train images through the line (msg.learn), confirms labelled defects to
 * the detector where asked (msg.confirm), calibrates the threshold node from the good scores the
 * detector's fit hands over (PatchCore) or on held-back training images (msg.calibrate), then
 * inspects every test image twice: one at a time
 * (latency, image source in to mask to region out) and as a stream that keeps the queues full
 * (throughput), watching the event loop and resident memory meanwhile.
 */
import { LineFailure } from "./failure";
import { lineFlow, LINE_GLOBALS, LINE_NODES, LINE_QUEUE_SIZE } from "./flow";
import { accuracyFigures, percentile } from "./metrics";
import { LoopDelay, RssPeak } from "./probes";
import { openRawBackbone } from "./raw-backbone";
import type { CalibrationAnswer, Inspected, LearnAnswer } from "./read";
import { startEmbeddedRuntime, type RuntimeLogRecord } from "./runtime";
import { LineSession, type OneAtATime, type Streamed } from "./session";
import { LineTap } from "./tap";
import type { LinePlan, LineReport } from "./types";

const ERROR_LEVEL = 20;
const LOG_LEVELS: Record<number, string> = { 10: "fatal", 20: "error", 30: "warn", 40: "info", 50: "debug", 60: "trace" };

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

function formatLog(record: RuntimeLogRecord): string {
  const message = record.msg instanceof Error ? record.msg.message : typeof record.msg === "string" ? record.msg : JSON.stringify(record.msg);
  const where = record.type === undefined ? "" : `[${record.type}${record.name || record.id ? `:${record.name || record.id}` : ""}] `;
  return `[${LOG_LEVELS[record.level] ?? record.level}] ${where}${message}`;
}

/** msg.timings names in the order the nodes write them; others after, by name. */
const TIMING_ORDER = ["sourceMs", "preprocessMs", "backboneMs", "scoringMs", "postMs", "detectorMs", "thresholdMs", "regionsMs"];

/** preprocessMs + detectorMs of each image that has both, as eval times preprocess + inspect. */
function engineMedian(records: readonly Inspected[]): number | null {
  const sums = records.flatMap((r) => {
    const { preprocessMs, detectorMs } = r.timings;
    return preprocessMs === undefined || detectorMs === undefined ? [] : [preprocessMs + detectorMs];
  });
  return sums.length === 0 ? null : round(median(sums));
}

function timingMedians(records: readonly Inspected[]): Record<string, number> {
  const rank = (name: string): number => (TIMING_ORDER.includes(name) ? TIMING_ORDER.indexOf(name) : TIMING_ORDER.length);
  const names = [...new Set(records.flatMap((r) => Object.keys(r.timings)))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return Object.fromEntries(
    names.map((name) => [name.replace(/Ms$/, ""), round(median(records.flatMap((r) => (r.timings[name] === undefined ? [] : [r.timings[name] as number]))))]),
  );
}

/**
 * The threshold node in its good-only mode "false-reject rate" (split-conformal) at the plan's
 * rate (its own default, 1 %, unless --frr), calibrating from the good scores the detector hands
 * over with its fit, or by itself once every held-back calibration image has been sent.
 */
function thresholdFields(plan: LinePlan): Record<string, string> {
  return {
    mode: "quantile",
    ...(plan.calibration.length > 0 ? { calibrationCount: String(plan.calibration.length) } : {}),
    ...(plan.frr === undefined ? {} : { frr: String(plan.frr) }),
  };
}

interface Measured {
  version: string;
  learned: { seconds: number; model: LearnAnswer["model"] };
  confirmed: { seconds: number };
  threshold: number;
  promisedFrr: number | null;
  /** Good scores the threshold was calibrated on. */
  calibrationCount: number;
  inspected: OneAtATime;
  streamed: Streamed;
  loop: { p99: number | null; max: number | null };
  learningLoop: { p99: number | null; max: number | null };
  rssPeak: number;
  alarms: number;
}

/**
 * The threshold the line inspects with: from the scores the fit handed over (no calibration
 * images in the plan), else from the held-back images sent now.
 */
async function calibrated(
  plan: LinePlan,
  session: LineSession,
  handed: CalibrationAnswer | null,
): Promise<{ threshold: number; promisedFrr: number | null; count: number }> {
  if (plan.calibration.length > 0) return { ...(await session.calibrate()), count: plan.calibration.length };
  if (handed === null || handed.threshold === null) {
    throw new LineFailure("calibration: the threshold node did not calibrate from the good scores the detector's fit handed over (see the log above)");
  }
  return { threshold: handed.threshold, promisedFrr: handed.promisedFrr, count: handed.count };
}

/** Everything that runs inside Node-RED; the runtime is stopped and its directory removed, whatever happens. */
async function measure(plan: LinePlan): Promise<Measured> {
  const rss = new RssPeak();
  const tap = new LineTap();
  const loop = new LoopDelay();
  const learningLoop = new LoopDelay();
  try {
    const runtime = await startEmbeddedRuntime({
      flows: lineFlow({ preprocess: plan.preprocess, detector: plan.detector, threshold: thresholdFields(plan) }),
      globals: { [LINE_GLOBALS.result]: tap.result, [LINE_GLOBALS.caught]: tap.caught, [LINE_GLOBALS.alarm]: tap.alarm },
      log: (record) => {
        // The runtime's own start-up warnings (projects off, plain credentials) are how this runtime is meant to be.
        if (record.type !== undefined || record.level <= ERROR_LEVEL) plan.log?.(formatLog(record));
      },
    });
    try {
      const source = runtime.node(LINE_NODES.source);
      if (source === undefined)
        throw new LineFailure(`the line's image source did not start${tap.strayErrors.length > 0 ? `: ${tap.strayErrors.join("; ")}` : ""}`);
      plan.progress?.(`Node-RED ${runtime.version} on 127.0.0.1:${runtime.port}, user directory ${runtime.userDir}`);
      const session = new LineSession(plan, source, tap, loop, learningLoop);
      const learned = await session.learn();
      const confirmed = await session.confirmDefects();
      // The good scores handed over with the fit, scored again after the last confirmed defect where it changed them.
      const { threshold, promisedFrr, count } = await calibrated(plan, session, confirmed.answer?.calibration ?? learned.calibration);
      const backbone = plan.rawBackbone;
      const raw =
        backbone === undefined
          ? undefined
          : await openRawBackbone(backbone.file, backbone.layers, backbone.threads === undefined ? {} : { intraOpThreads: backbone.threads });
      let inspected: Measured["inspected"];
      try {
        inspected = await session.oneAtATime(raw, backbone?.preprocess);
      } finally {
        await raw?.release();
      }
      const streamed = await session.stream();
      return {
        version: runtime.version,
        learned,
        confirmed,
        threshold,
        promisedFrr,
        calibrationCount: count,
        inspected,
        streamed,
        loop: loop.summary(),
        learningLoop: learningLoop.summary(),
        rssPeak: rss.stop(),
        alarms: tap.alarms,
      };
    } finally {
      loop.pause();
      learningLoop.pause();
      tap.abandonAll("the line stopped before it came out");
      await runtime.stop();
    }
  } finally {
    rss.stop();
  }
}

export async function runLine(plan: LinePlan): Promise<LineReport> {
  const m = await measure(plan);
  plan.progress?.("computing the figures");
  const accuracy = await accuracyFigures(plan.dataset.test, m.inspected.records, plan.size, plan.dataset.hasMasks);
  return {
    dataset: plan.dataset.root,
    node_red: m.version,
    train_images: plan.learn.length,
    calibration_images: m.calibrationCount,
    calibration: plan.calibration.length === 0 ? "leave-one-out" : plan.calibrationHeldOut ? "held-out" : "learned",
    images: m.inspected.records.length,
    test_images: plan.dataset.test.length,
    ...accuracy,
    threshold: m.threshold,
    promised_frr: m.promisedFrr,
    ms_split: timingMedians(m.inspected.records),
    ms_per_image_p50: round(percentile(m.inspected.latencies, 50)),
    ms_per_image_p99: round(percentile(m.inspected.latencies, 99)),
    engine_ms_per_image_p50: engineMedian(m.inspected.records),
    images_per_second: round(m.streamed.perSecond),
    stream_window: LINE_QUEUE_SIZE,
    dropped: m.streamed.dropped,
    alarms: m.alarms,
    event_loop_delay_p99_ms: m.loop.p99 === null ? null : round(m.loop.p99),
    event_loop_delay_max_ms: m.loop.max === null ? null : round(m.loop.max),
    learning_event_loop_delay_p99_ms: m.learningLoop.p99 === null ? null : round(m.learningLoop.p99),
    learning_event_loop_delay_max_ms: m.learningLoop.max === null ? null : round(m.learningLoop.max),
    rss_peak_mb: round(m.rssPeak, 1),
    raw_backbone_ms: m.inspected.rawMs.length === 0 ? null : round(median(m.inspected.rawMs)),
    fit_seconds: round(m.learned.seconds),
    defect_shots: plan.defects.length,
    defect_regions: plan.defects.length === 0 ? null : [...new Set(plan.defects.map((d) => d.region?.kind ?? "none"))].join("+"),
    confirm_seconds: round(m.confirmed.seconds),
    model: m.learned.model,
  };
}
