/**
 * Drift indicator: when the light, the camera or the parts slowly change, good parts score
 * higher and higher until they are rejected. The median inspection score of the last W parts
 * an operator confirmed good, against the median of the first W confirmed after the fit (the
 * baseline), shows that rise before it turns into false rejects. Medians, so one odd part does
 * not move it.
 */
export const DEFAULT_DRIFT_WINDOW = 20;
export const DEFAULT_DRIFT_RATIO = 1.5;

/** What is saved with the model, so a restart or rollback keeps the drift history. */
export interface DriftRecord {
  /** Median of the first `window` confirmed-good scores; null until there are that many. */
  baseline: number | null;
  /** The last confirmed-good scores (at most `window`), oldest first. */
  recent: number[];
}

/** As msg.payload.drift: ratio is null until a baseline exists (or when it is 0). */
export interface DriftReport {
  ratio: number | null;
  /** Confirmed-good scores in the current window. */
  confirmedGood: number;
  window: number;
}

export function emptyDrift(): DriftRecord {
  return { baseline: null, recent: [] };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The record after one more confirmed-good score (a new object; the old one is left as it was). */
export function recordGoodScore(record: DriftRecord, score: number, window: number): DriftRecord {
  const recent = [...record.recent, score].slice(-window);
  const baseline = record.baseline ?? (recent.length >= window ? median(recent) : null);
  return { baseline, recent };
}

export function driftReport(record: DriftRecord, window: number): DriftReport {
  const recent = record.recent.slice(-window);
  const usable = record.baseline !== null && record.baseline > 0 && recent.length > 0;
  return { ratio: usable ? median(recent) / (record.baseline as number) : null, confirmedGood: recent.length, window };
}

export function readDriftRecord(value: unknown): DriftRecord {
  if (typeof value !== "object" || value === null) return emptyDrift();
  const { baseline, recent } = value as Record<string, unknown>;
  return {
    baseline: typeof baseline === "number" && Number.isFinite(baseline) ? baseline : null,
    recent: Array.isArray(recent) ? recent.filter((v): v is number => typeof v === "number" && Number.isFinite(v)) : [],
  };
}
