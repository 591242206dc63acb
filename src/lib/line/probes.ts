/** What the line measures of the process itself: resident memory and event-loop delay. */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

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

/**
 * Event-loop delay at 1 ms resolution, recorded only between `resume` and `pause`: the phases
 * that inspect, not the measuring code between them.
 */
export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  private recording = false;

  resume(): void {
    if (!this.recording) this.histogram.enable();
    this.recording = true;
  }

  pause(): void {
    if (this.recording) this.histogram.disable();
    this.recording = false;
  }

  /** Milliseconds; null when nothing was recorded. */
  summary(): { p99: number | null; max: number | null } {
    this.pause();
    if (this.histogram.count === 0) return { p99: null, max: null };
    return { p99: this.histogram.percentile(99) / NS_PER_MS, max: this.histogram.max / NS_PER_MS };
  }
}
