/**
 * The results a station keeps for GetResultById and GetResultListFiltered: the last `capacity`
 * ones in memory, oldest dropped first. A result is filed under its OPC 40100 ResultId (the
 * record's station and number), so a client fetches it with the id it got in the ResultReady event.
 */
import type { ResultRecord } from "../message";
import { page, type Page } from "./recipes";

/** ResultState (OPC 40100 ResultStateDataType): 1 completed, the only state a verdict's record is in. */
export const RESULT_COMPLETED = 1;

export interface StoredResult {
  /** `<station>/<id>`: the record's station (threshold node id) and number, unique across restarts. */
  resultId: string;
  /** The job the result belongs to: the record's jobId, else the job running when it arrived; "" for none. */
  jobId: string;
  record: ResultRecord;
}

export interface ResultFilter {
  /** 0 for any state. */
  resultState: number;
  partId: string;
  recipe: string;
  jobId: string;
  maxResults: number;
  startIndex: number;
}

export interface ResultStore {
  add(result: StoredResult): void;
  get(resultId: string): StoredResult | undefined;
  /** Matching results, oldest first. */
  list(filter: ResultFilter): Page<StoredResult>;
  readonly size: number;
}

export function resultIdOf(record: Pick<ResultRecord, "station" | "id">): string {
  return `${record.station}/${record.id}`;
}

export function createResultStore(capacity: number): ResultStore {
  // A Map keeps insertion order: its first key is the oldest result.
  const results = new Map<string, StoredResult>();
  return {
    add(result) {
      results.delete(result.resultId);
      results.set(result.resultId, result);
      while (results.size > capacity) {
        const oldest = results.keys().next().value;
        if (oldest === undefined) break;
        results.delete(oldest);
      }
    },
    get: (resultId) => results.get(resultId),
    list(filter) {
      const matches = [...results.values()].filter(
        (result) =>
          (filter.resultState === 0 || filter.resultState === RESULT_COMPLETED) &&
          (filter.partId === "" || result.record.partId === filter.partId) &&
          (filter.recipe === "" || result.record.recipe === filter.recipe) &&
          (filter.jobId === "" || result.jobId === filter.jobId),
      );
      return page(matches, filter.startIndex, filter.maxResults);
    },
    get size() {
      return results.size;
    },
  };
}
