/** What the line measures of the process itself: resident memory and event-loop delay. */
import { createHistogram, performance, type RecordableHistogram } from "node:perf_hooks";

const MB = 1024 * 1024;
const NS_PER_MS = 1e6;
/** Often enough to see the memory of a learning round between two images. */
const RSS_SAMPLE_MS = 100;

/** Samples resident memory until stopped; the peak also counts the kernel's high-water mark. */
export class RssPeak {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.sample();
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
    this.timer.unref();
  }

  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }

  /**
   * Stops sampling and returns the peak in MB. getrusage's maxRSS (kB) also sees peaks inside
   * long synchronous work that no timer can sample; it covers this process's whole life.
   */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return Math.max(this.peak / MB, process.resourceUsage().maxRSS / 1024);
  }
}

/** How often the loop is sampled: each sample is the time between two 1 ms timer ticks. */
const LOOP_SAMPLE_MS = 1;

/**
 * Event-loop delay at 1 ms resolution, recorded only between `resume` and `pause`: the phases
 * that inspect, not the measuring code between them (the plain backbone runs on this thread).
 * Sampled by its own timer rather than monitorEventLoopDelay, whose first sample after
 * enable() spans the whole time it was disabled: a paused 80 ms showed as an 80 ms delay.
 * Like monitorEventLoopDelay, a sample is the whole interval between ticks (about 1 ms when idle).
 */
export class LoopDelay {
  private readonly histogram: RecordableHistogram = createHistogram();
  private timer: NodeJS.Timeout | undefined;

  resume(): void {
    if (this.timer !== undefined) return;
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.histogram.record(Math.max(1, Math.round((now - last) * NS_PER_MS)));
      last = now;
    }, LOOP_SAMPLE_MS);
  }

  pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Milliseconds; null when nothing was recorded. */
  summary(): { p99: number | null; max: number | null } {
    this.pause();
    if (this.histogram.count === 0) return { p99: null, max: null };
    return { p99: this.histogram.percentile(99) / NS_PER_MS, max: this.histogram.max / NS_PER_MS };
  }
}
