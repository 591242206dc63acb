/**
 * The two sliding windows of the rate rules, as immutable values: pushing returns a new window
 * and leaves the old one usable, so a state can be fed twice (tests, what-if) without surprises.
 * The cost is a copy of the window per part, which MAX_WINDOW_PARTS keeps bounded.
 */
import { MAX_WINDOW_PARTS } from "./options";

/** The last `size` parts, oldest first; `ng` counts the NG flags among them. */
export interface CountWindow {
  readonly flags: readonly boolean[];
  readonly ng: number;
}

/** The parts of the last span of time, oldest first, with their times in ms. */
export interface TimeWindow {
  readonly times: readonly number[];
  readonly flags: readonly boolean[];
  readonly ng: number;
}

export const EMPTY_COUNT_WINDOW: CountWindow = { flags: [], ng: 0 };
export const EMPTY_TIME_WINDOW: TimeWindow = { times: [], flags: [], ng: 0 };

function countTrue(flags: readonly boolean[]): number {
  let n = 0;
  for (const f of flags) if (f) n += 1;
  return n;
}

/** Adds a part; the part that falls out when the window already holds `size` is forgotten. */
export function pushCount(window: CountWindow, isNg: boolean, size: number): CountWindow {
  const drop = Math.max(0, window.flags.length + 1 - size);
  const dropped = window.flags.slice(0, drop);
  const flags = [...window.flags.slice(drop), isNg];
  return { flags, ng: window.ng - countTrue(dropped) + (isNg ? 1 : 0) };
}

/**
 * Drops the parts that are `spanMs` or more older than `now`: the window is (now - span, now],
 * so a part exactly T seconds old has left it. Beyond MAX_WINDOW_PARTS the oldest parts leave
 * early, which only matters at rates above MAX_WINDOW_PARTS parts per window.
 */
export function expireTime(window: TimeWindow, now: number, spanMs: number, keep = MAX_WINDOW_PARTS): TimeWindow {
  let drop = 0;
  while (drop < window.times.length && now - (window.times[drop] as number) >= spanMs) drop += 1;
  drop = Math.max(drop, window.times.length - keep);
  if (drop === 0) return window;
  const dropped = window.flags.slice(0, drop);
  return { times: window.times.slice(drop), flags: window.flags.slice(drop), ng: window.ng - countTrue(dropped) };
}

export function pushTime(window: TimeWindow, now: number, isNg: boolean, spanMs: number): TimeWindow {
  // Room for the new part is made before it is added, so the window never exceeds the cap.
  const kept = expireTime(window, now, spanMs, MAX_WINDOW_PARTS - 1);
  return { times: [...kept.times, now], flags: [...kept.flags, isNg], ng: kept.ng + (isNg ? 1 : 0) };
}
